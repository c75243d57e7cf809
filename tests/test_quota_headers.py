"""Rate-limit headers as ledger facts: parsed, learned with their source, and a spent window blocked."""

from __future__ import annotations

import pytest

from gemtui.quota.engine import QuotaEngine, RequestCost
from gemtui.quota.headers import HEADER_SOURCE, NOT_STATED, parse_headers
from tests.clocks import FakeClock

LINK = "ds:deepseek-chat"


def headers(remaining_requests: int = 59, reset: str = "1s") -> dict[str, str]:
    return {
        "X-RateLimit-Limit-Requests": "60",
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "6m0s",
        "date": "x",
    }


def test_headers_parse_into_per_minute_dimensions():
    facts = parse_headers(headers())
    assert facts.limits == {"rpm": 60, "tpm": 150000}
    assert facts.remaining == {"rpm": 59, "tpm": 149000}
    assert facts.reset_s == {"rpm": 1.0, "tpm": 360.0}
    assert parse_headers({"x-ratelimit-limit-requests": "lots"}).empty


@pytest.fixture
def engine(tmp_path):
    eng = QuotaEngine(clock=FakeClock(1_750_000_000.0), ledger_path=tmp_path / "ledger.sqlite3")
    yield eng
    eng.close()


def test_limits_are_learned_with_the_source_server_headers(engine):
    engine.on_rate_headers("p", LINK, parse_headers(headers()), 10)
    limits = engine.limits("p", LINK)
    assert (limits.rpm, limits.tpm) == (60, 150000)
    assert limits.source["rpm"] == limits.source["tpm"] == HEADER_SOURCE
    assert limits.source["rpd"] == NOT_STATED and limits.rpd is None
    assert engine.check("p", LINK, RequestCost(10)).granted


def test_a_spent_window_blocks_until_the_stated_reset(engine):
    now = engine.clock.now()
    engine.on_rate_headers("p", LINK, parse_headers(headers(remaining_requests=0, reset="12.5s")), 10)
    refused = engine.check("p", LINK, RequestCost(10))
    assert not refused.granted and refused.eta == pytest.approx(now + 12.5, abs=0.01)
    engine.clock.advance(12.6)
    assert engine.check("p", LINK, RequestCost(10)).granted


def test_too_few_tokens_left_for_a_like_request_blocks_tpm(engine):
    facts = parse_headers({**headers(), "x-ratelimit-remaining-tokens": "500", "x-ratelimit-reset-tokens": "20s"})
    engine.on_rate_headers("p", LINK, facts, 800)
    refused = engine.check("p", LINK, RequestCost(800))
    assert not refused.granted and "TPM" in refused.reason and refused.wait_s == pytest.approx(20, abs=0.01)
