"""A local token estimate that learns, per model, how the server counts — and errs high.

The quota engine reserves this estimate against TPM before a request is sent, so an under-estimate
risks a 429 that could have been avoided. Hence three layers:

* `raw_text`: a cheap heuristic from characters, words, digits and non-ASCII characters (no tokenizer
  to load). It is cached per message, so a long conversation is never re-read.
* calibration: after each answer, `observe(model, raw, promptTokenCount)` updates a smoothed ratio of
  real to raw tokens for that model (and a pooled one for models not yet seen). Persisted, bounded.
* margin: the calibrated estimate is raised by a margin that follows how much the ratio scatters,
  so the estimate sits above most real counts rather than on their mean.

Raw counts are model-independent; only the final `factor(model)` differs. That keeps cached counts
and prefix sums valid when the calibration moves or the request is routed to another model.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from gemtui import paths
from gemtui.storage import write_private
from gemtui.turns import Attachment

# Framing the server adds around each content (role markers, turn separators), in raw units.
MESSAGE_OVERHEAD = 4
SYSTEM_OVERHEAD = 4

# Smoothing: the first samples are averaged (fast convergence), later ones weighted by ALPHA (drift).
ALPHA = 0.2
MIN_SAMPLES = 3  # below this a model borrows the pooled ratio
RATIO_BOUNDS = (0.2, 5.0)  # one absurd sample (a cached prefix, a wrong pairing) cannot wreck estimates
MARGIN_MIN = 0.05
MARGIN_MAX = 0.50
MARGIN_UNCALIBRATED = 0.15
MARGIN_STDEVS = 2.5
MAX_MODELS = 32
POOLED = "*"

_DIGITS = str.maketrans("", "", "0123456789")
_PUNCT = str.maketrans("", "", string.punctuation)
PUNCT_WEIGHT = 0.8


class HasText(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def text(self) -> str: ...


def raw_attachments(attachments: Sequence[Attachment]) -> int:
    """Attached files' share of a message: text as text (with its path heading), images and PDFs at the
    cost the API documents for them (`Attachment.tokens`)."""
    return sum(raw_text(a.headed_text()) if a.is_text else a.tokens for a in attachments)


def media_tokens(attachments: Sequence[Attachment]) -> int:
    """What the API documents for attached images and PDFs: exact counts, which calibration learned from
    text must never scale down (an estimate may err high, never low)."""
    return sum(a.tokens for a in attachments if not a.is_text)


def scale_with_media(estimator: TokenEstimator, model: str, raw: int, media: int) -> int:
    """`raw` (which includes `media`) scaled for `model`, with the media part never below its cost."""
    scaled = estimator.scale(model, raw)
    return max(scaled, estimator.scale(model, raw - media) + media) if media else scaled


def raw_text(text: str) -> int:
    """The uncalibrated estimate for a text alone.

    ~4 ASCII characters a token for prose, at least ~1.3 a word for short words, one per digit
    (Gemini's tokenizer splits numbers into digits), most of one per punctuation mark (code is dense
    in them), one per non-ASCII character (CJK is near one a character; accented Latin is fewer, so
    this errs high and calibration pulls it back). All counting is done by str methods in C.
    """
    if not text:
        return 0
    n = len(text)
    non_ascii = 0 if text.isascii() else n - len(text.encode("ascii", "ignore"))
    digits = n - len(text.translate(_DIGITS))
    punct = n - len(text.translate(_PUNCT))
    letters = n - non_ascii - digits - punct
    words = len(text.split())
    return math.ceil(max(letters / 4.0, words * 1.3) + digits + PUNCT_WEIGHT * punct + non_ascii)


def normalise_model(model: str) -> str:
    """`models/gemini-2.5-pro` and `gemini-2.5-pro` are one model for calibration and budgets."""
    model = model.strip()
    return model[len("models/") :] if model.startswith("models/") else model


@dataclass
class Calibration:
    """What we learned about one model's tokenizer relative to `raw_text`."""

    ratio: float = 1.0
    var: float = 0.0
    samples: int = 0
    updated: float = 0.0
    last_estimate: int | None = None  # the calibrated estimate reserved for the last observed request
    last_real: int | None = None  # what the server counted for it (promptTokenCount)

    @property
    def rel_std(self) -> float:
        return math.sqrt(max(self.var, 0.0)) / self.ratio if self.ratio > 0 else 0.0


class TokenEstimator:
    """Estimates input tokens per model; cheap to call repeatedly on the same messages."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        persist: bool = True,
        cache_size: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path is None and persist:
            path = paths.cache_dir() / "token-calibration.json"
        self.path = path
        self.persist = persist and self.path is not None
        self.cache_size = max(16, cache_size)
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, Calibration] = {}
        # id -> (text, raw): a message's text can grow while streamed, so the text is checked on reuse.
        self._by_id: dict[int, tuple[str, int]] = {}
        # text -> raw for things without an id (system prompts, a request not yet stored).
        self._by_text: dict[str, int] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        if self.persist:
            self._load()

    # ---- raw counts (model-independent, cached) -------------------------------------------------

    def raw_message(self, msg: HasText) -> int:
        """Raw tokens of one content (text + framing), cached by message id or by text."""
        text = msg.text
        msg_id = msg.id
        if msg_id is not None:
            hit = self._by_id.get(msg_id)
            if hit is not None and (hit[0] is text or hit[0] == text):
                self.cache_hits += 1
                return hit[1]
            raw = raw_text(text) + MESSAGE_OVERHEAD + raw_attachments(getattr(msg, "attachments", ()))
            self.cache_misses += 1
            if len(self._by_id) >= self.cache_size:
                self._evict(self._by_id)
            self._by_id[msg_id] = (text, raw)
            return raw
        return self.raw_for_text(text) + MESSAGE_OVERHEAD + raw_attachments(getattr(msg, "attachments", ()))

    def raw_for_text(self, text: str) -> int:
        hit = self._by_text.get(text)
        if hit is not None:
            self.cache_hits += 1
            return hit
        self.cache_misses += 1
        raw = raw_text(text)
        if len(self._by_text) >= self.cache_size:
            self._evict(self._by_text)
        self._by_text[text] = raw
        return raw

    def raw_system(self, system: str | None) -> int:
        return self.raw_for_text(system) + SYSTEM_OVERHEAD if system else 0

    @staticmethod
    def _evict(cache: dict[Any, Any]) -> None:  # either cache: only its keys' order matters
        """Drop the older half (dicts keep insertion order): bounded memory, no per-hit bookkeeping."""
        for key in list(cache)[: len(cache) // 2]:
            del cache[key]

    # ---- calibration ---------------------------------------------------------------------------

    def calibration(self, model: str) -> Calibration:
        """The calibration in force for `model` (its own, or the pooled one while it has few samples)."""
        own = self._models.get(normalise_model(model))
        if own is not None and own.samples >= MIN_SAMPLES:
            return own
        pooled = self._models.get(POOLED)
        if pooled is not None and pooled.samples > 0:
            return pooled
        return own or Calibration()

    def ratio(self, model: str) -> float:
        return self.calibration(model).ratio

    def margin(self, model: str) -> float:
        """Fractional safety margin: wide while we know little, then tracking the ratio's scatter."""
        cal = self.calibration(model)
        if cal.samples < MIN_SAMPLES:
            return MARGIN_UNCALIBRATED
        return min(MARGIN_MAX, max(MARGIN_MIN, MARGIN_STDEVS * cal.rel_std))

    def factor(self, model: str) -> float:
        """Multiply raw tokens by this to get the tokens to reserve for `model`."""
        return self.ratio(model) * (1.0 + self.margin(model))

    def scale(self, model: str, raw: int) -> int:
        """Raw tokens -> the (high-side) estimate of what the server will count."""
        return math.ceil(raw * self.factor(model)) if raw > 0 else 0

    def observe(self, model: str, raw_estimate: int, real_tokens: int, *, reserved: int | None = None) -> None:
        """Learn from one answer.

        `raw_estimate` is the raw count of exactly what was sent (ContextPlan.raw_tokens), `real_tokens`
        the server's promptTokenCount (or a countTokens result), `reserved` what the engine booked.
        """
        if raw_estimate <= 0 or real_tokens <= 0:
            return
        sample = min(RATIO_BOUNDS[1], max(RATIO_BOUNDS[0], real_tokens / raw_estimate))
        name = normalise_model(model)
        now = self._clock()
        with self._lock:
            for key in (name, POOLED):
                cal = self._models.get(key)
                if cal is None:
                    cal = self._models[key] = Calibration()
                if reserved is None and key == name:
                    reserved = self.scale(model, raw_estimate)
                self._update(cal, sample, now)
                if key == name:
                    cal.last_estimate = reserved
                    cal.last_real = real_tokens
            self._bound()
        if self.persist:
            self.save()

    @staticmethod
    def _update(cal: Calibration, sample: float, now: float) -> None:
        cal.samples += 1
        alpha = max(ALPHA, 1.0 / cal.samples)
        if cal.samples == 1:
            cal.ratio, cal.var = sample, 0.0
        else:
            delta = sample - cal.ratio
            cal.ratio += alpha * delta
            # Exponentially weighted variance (West's update): scatter of samples about the mean.
            cal.var = (1.0 - alpha) * (cal.var + alpha * delta * delta)
        cal.updated = now

    def _bound(self) -> None:
        models = [k for k in self._models if k != POOLED]
        if len(models) > MAX_MODELS:
            models.sort(key=lambda k: self._models[k].updated)
            for key in models[: len(models) - MAX_MODELS]:
                del self._models[key]

    def last_observation(self, model: str) -> tuple[int | None, int | None]:
        """(estimate reserved, real count) of the last reconciled request for `model`, if any."""
        cal = self._models.get(normalise_model(model))
        return (cal.last_estimate, cal.last_real) if cal else (None, None)

    # ---- persistence ---------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # missing or unreadable: start uncalibrated, the next answer teaches us again
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            return
        for name, raw in list(models.items())[: MAX_MODELS + 1]:
            if not isinstance(raw, dict):
                continue
            try:
                cal = Calibration(
                    ratio=min(RATIO_BOUNDS[1], max(RATIO_BOUNDS[0], float(raw.get("ratio", 1.0)))),
                    var=max(0.0, float(raw.get("var", 0.0))),
                    samples=max(0, int(raw.get("samples", 0))),
                    updated=float(raw.get("updated", 0.0)),
                    last_estimate=_opt_int(raw.get("last_estimate")),
                    last_real=_opt_int(raw.get("last_real")),
                )
            except (TypeError, ValueError):
                continue
            self._models[str(name)] = cal

    def save(self) -> None:
        """Atomic write (tmp + replace); a failed write only costs calibration, never the request."""
        if self.path is None:
            return
        with self._lock:
            doc = {"version": 1, "models": {k: asdict(v) for k, v in self._models.items()}}
        with contextlib.suppress(OSError):
            write_private(self.path, json.dumps(doc, indent=1, sort_keys=True))


def _opt_int(value: Any) -> int | None:  # a value read from the JSON file: any type until checked
    return None if value is None else int(value)


_DEFAULT: TokenEstimator | None = None


def default_estimator() -> TokenEstimator:
    """The process's shared estimator for prompts outside a conversation (ask, batches); its calibration
    file is the same one conversations use, so every answer makes every estimate better."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TokenEstimator()
    return _DEFAULT
