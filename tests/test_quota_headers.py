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


@pytest.mark.parametrize(
    "name, value",
    [
        ("x-ratelimit-reset-requests", "1e12"),
        ("x-ratelimit-reset-requests", "99999h"),
        ("x-ratelimit-remaining-requests", "inf"),
        ("x-ratelimit-remaining-requests", "18446744073709551616"),
        ("x-ratelimit-limit-tokens", "1e300"),
    ],
)
def test_a_nonsense_header_is_ignored_and_the_ledger_stays_readable(engine, name, value):
    """A reset of 1e12 s was booked as a block in the year 33715, after which every read of the ledger
    failed ('year 33715 is out of range'); 'inf' raised out of the answer's own stream."""
    facts = parse_headers({**headers(remaining_requests=0), name: value})
    engine.on_rate_headers("p", LINK, facts, 10)
    engine.gauges("p", [LINK])  # readable afterwards
    assert facts.reset_s.get("rpm", 0) <= 7 * 86400 and all(v <= 10**15 for v in facts.remaining.values())


def test_retry_after_ms_is_read_in_milliseconds_and_nonsense_is_dropped():
    from gemtui.providers.openai_compat import retry_after_s

    assert retry_after_s({"retry-after-ms": "3600000"}) == 3600.0  # an hour, not a nonsense week
    assert retry_after_s({"retry-after-ms": "1e15"}) is None
    assert retry_after_s({"retry-after-ms": "1e15", "retry-after": "30"}) == 30.0
