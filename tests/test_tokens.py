"""The token estimator: cheap, cached, and calibrated until it sits just above what the server counts.

The "server" here is a deterministic synthetic tokenizer that deliberately differs from the estimator's
heuristic (it splits words into 2.5-character pieces, counts punctuation and adds per-turn framing), so
calibration has something real to learn.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass

import pytest

from gemtui import paths
from gemtui.chat.tokens import (
    MARGIN_MIN,
    MARGIN_UNCALIBRATED,
    MESSAGE_OVERHEAD,
    TokenEstimator,
    raw_text,
)

_PIECES = re.compile(r"\w+|[^\w\s]")
WORDS = re.findall(
    r"\w+",
    "the quota engine reserves tokens before each request so a model never refuses it while the minute "
    "window rolls forward and history grows longer with every turn of conversation about keys limits",
)


def server_tokens(texts: list[str], *, scale: float = 1.0) -> int:
    """promptTokenCount of a synthetic server: 2.5-char word pieces, 1 per symbol, 3 a turn, 2 a request."""
    total = 2
    for text in texts:
        pieces = 0
        for piece in _PIECES.findall(text):
            pieces += math.ceil(len(piece) / 2.5) if piece[0].isalnum() else 1
        total += 3 + math.ceil(pieces * scale)
    return total


def random_text(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(5, 400)):
        roll = rng.random()
        if roll < 0.08:
            words.append(str(rng.randint(0, 99999)))
        elif roll < 0.15:
            words.append(rng.choice(("(", ")", "=", ",", ".", "->", "{", "}")))
        else:
            words.append(rng.choice(WORDS))
    return " ".join(words)


@dataclass
class Msg:
    id: int | None
    text: str
    role: str = "user"


def request(rng: random.Random, start_id: int) -> list[Msg]:
    return [Msg(start_id + i, random_text(rng)) for i in range(rng.randint(1, 8))]


def test_raw_text_basics():
    assert raw_text("") == 0
    assert raw_text("hello") >= 1
    prose = "The quick brown fox jumps over the lazy dog. " * 20
    assert 150 <= raw_text(prose) <= 300  # ~4 characters a token
    assert raw_text("1234567890") >= 10  # one token a digit
    assert raw_text("日本語のテキストです") >= 10  # about one a character
    assert raw_text("a b c d e f g h") >= 10  # short words cost at least ~1.3 each


def test_uncalibrated_estimate_has_the_wide_margin():
    est = TokenEstimator(persist=False)
    assert est.ratio("gemini-2.5-pro") == 1.0
    assert est.margin("gemini-2.5-pro") == MARGIN_UNCALIBRATED
    assert est.scale("gemini-2.5-pro", 100) == math.ceil(100 * (1 + MARGIN_UNCALIBRATED))
    assert est.scale("gemini-2.5-pro", 0) == 0


def _mean_abs_rel_error(est, model, rng, n, *, scale=1.0, with_margin=False):
    errors, under = [], 0
    for k in range(n):
        msgs = request(rng, 1_000_000 + 100 * k)
        raw = sum(est.raw_message(m) for m in msgs)
        real = server_tokens([m.text for m in msgs], scale=scale)
        guess = est.scale(model, raw) if with_margin else raw * est.ratio(model)
        errors.append(abs(guess - real) / real)
        under += guess < real
    return sum(errors) / n, under / n


def test_calibration_converges_on_the_server_count():
    rng = random.Random(7)
    est = TokenEstimator(persist=False)
    model = "gemini-2.5-flash"
    before, _ = _mean_abs_rel_error(est, model, random.Random(99), 40)
    for k in range(60):
        msgs = request(rng, 100 * k)
        raw = sum(est.raw_message(m) for m in msgs)
        est.observe(model, raw, server_tokens([m.text for m in msgs]))
    after, _ = _mean_abs_rel_error(est, model, random.Random(99), 40)
    assert before > 0.15, "the synthetic tokenizer must differ from the heuristic for this test to mean much"
    assert after < 0.10
    assert after < before / 2


def test_calibrated_estimate_errs_high_but_not_wildly():
    rng = random.Random(11)
    est = TokenEstimator(persist=False)
    model = "gemini-2.5-pro"
    for k in range(60):
        msgs = request(rng, 100 * k)
        est.observe(model, sum(est.raw_message(m) for m in msgs), server_tokens([m.text for m in msgs]))
    err, under = _mean_abs_rel_error(est, model, random.Random(5), 200, with_margin=True)
    assert under <= 0.05, f"{under:.0%} of estimates were below the server count"
    assert err < 0.35
    assert MARGIN_MIN <= est.margin(model) <= 0.5


def test_models_are_calibrated_separately_and_new_ones_borrow_the_pool():
    est = TokenEstimator(persist=False)
    rng = random.Random(3)
    for k in range(40):
        msgs = request(rng, 100 * k)
        raw = sum(est.raw_message(m) for m in msgs)
        texts = [m.text for m in msgs]
        est.observe("gemini-2.5-flash", raw, server_tokens(texts))
        est.observe("models/gemini-2.5-pro", raw, server_tokens(texts, scale=1.5))
    flash, pro = est.ratio("gemini-2.5-flash"), est.ratio("gemini-2.5-pro")
    assert pro > flash * 1.2
    newcomer = est.ratio("gemini-3-pro-preview")
    assert min(flash, pro) <= newcomer <= max(flash, pro)  # the pooled ratio until it has its own


def test_one_absurd_sample_cannot_wreck_the_ratio():
    est = TokenEstimator(persist=False)
    for _ in range(10):
        est.observe("m", 1000, 1100)
    est.observe("m", 1000, 10_000_000)
    assert est.ratio("m") < 2.0
    est.observe("m", 0, 50)  # nonsense is ignored
    est.observe("m", 50, 0)
    assert est.calibration("m").samples == 11


def test_calibration_persists_and_is_bounded(tmp_path):
    path = tmp_path / "cal.json"
    est = TokenEstimator(path)
    for i in range(50):
        est.observe(f"model-{i}", 100, 120)
    for _ in range(5):
        est.observe("gemini-2.5-flash", 1000, 1300)
    again = TokenEstimator(path)
    assert again.ratio("gemini-2.5-flash") == pytest.approx(est.ratio("gemini-2.5-flash"))
    assert again.last_observation("gemini-2.5-flash")[1] == 1300
    doc = json.loads(path.read_text())
    assert len(doc["models"]) <= 33
    assert "model-49" in doc["models"] and "model-0" not in doc["models"]  # least recently used go


def test_default_calibration_file_lives_in_the_cache_dir():
    est = TokenEstimator()
    est.observe("gemini-2.5-flash", 100, 110)
    assert est.path.parent == paths.cache_dir() and est.path.exists()


def test_a_broken_calibration_file_is_ignored(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text("{not json")
    est = TokenEstimator(path)
    assert est.ratio("gemini-2.5-flash") == 1.0
    est.observe("gemini-2.5-flash", 100, 130)
    assert json.loads(path.read_text())["models"]["gemini-2.5-flash"]["samples"] == 1
    path.write_text(json.dumps({"models": {"x": {"ratio": "bad"}, "y": [1]}}))
    assert TokenEstimator(path).ratio("x") == 1.0


def test_per_message_cache_follows_text_changes():
    est = TokenEstimator(persist=False)
    msg = Msg(1, "Once upon")
    first = est.raw_message(msg)
    assert first == raw_text("Once upon") + MESSAGE_OVERHEAD
    hits = est.cache_hits
    assert est.raw_message(Msg(1, "Once upon")) == first  # same id, equal text in a new object: a hit
    assert est.cache_hits == hits + 1
    grown = Msg(1, "Once upon a time there was a quota " * 10)  # streamed answer grew in place
    assert est.raw_message(grown) == raw_text(grown.text) + MESSAGE_OVERHEAD
    assert est.raw_message(Msg(None, "no id")) == raw_text("no id") + MESSAGE_OVERHEAD


def test_cache_is_bounded():
    est = TokenEstimator(persist=False, cache_size=100)
    for i in range(1000):
        est.raw_message(Msg(i, f"message {i}"))
        est.raw_for_text(f"system {i}")
    assert len(est._by_id) <= 100 and len(est._by_text) <= 100


def test_last_observation_reports_estimate_and_real():
    est = TokenEstimator(persist=False)
    assert est.last_observation("gemini-2.5-pro") == (None, None)
    est.observe("gemini-2.5-pro", 1000, 1200, reserved=1300)
    assert est.last_observation("models/gemini-2.5-pro") == (1300, 1200)
