"""Quota per project and model: fixed windows, Pacific days, real 429 bodies, shared and invisible usage."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from google.genai import errors

from tests.fixtures_emulator import EMULATOR_T0

PRO = "gemini-2.5-pro"
PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific(*args: int) -> float:
    return dt.datetime(*args, tzinfo=PACIFIC).timestamp()


def quota_details(exc: errors.APIError) -> tuple[list[dict], str]:
    details = exc.details["error"]["details"]
    by_type = {d["@type"].rsplit(".", 1)[-1]: d for d in details}
    assert "Help" in by_type
    return by_type["QuotaFailure"]["violations"], by_type["RetryInfo"]["retryDelay"]


@pytest.fixture
def frozen(emulator_clock):
    """The emulator clock stopped at EMULATOR_T0 + 1 s (one second into a minute window)."""
    emulator_clock.set(EMULATOR_T0 + 1, running=False)
    return emulator_clock


def test_sixth_pro_request_on_free_tier_is_rpm_429(make_client, emulator, frozen):
    client = make_client()
    for _ in range(5):
        client.models.generate_content(model=PRO, contents="hi")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents="hi")
    exc = info.value
    assert exc.code == 429 and exc.status == "RESOURCE_EXHAUSTED"
    violations, delay = quota_details(exc)
    assert violations == [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": PRO},
            "quotaValue": "5",
        }
    ]
    assert delay == "59s"
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    assert f"* Quota exceeded for metric: {metric}, limit: 5, model: gemini-2.5-pro" in exc.message
    assert "Please retry in 59s." in exc.message
    counters = emulator.counters()["demo"][PRO]
    assert counters["rpm"] == 5 and counters["accepted"] == 5 and counters["rejected_429"] == 1
    # the window frees at the next whole minute, not 60 s after the first request
    frozen.advance(59)
    assert client.models.generate_content(model=PRO, contents="hi").text


def test_fractional_retry_delay(make_client, emulator, frozen):
    frozen.set(EMULATOR_T0 + 33.654321)
    emulator.set_limits(PRO, "free", rpm=1)
    client = make_client()
    client.models.generate_content(model=PRO, contents="hi")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents="hi")
    _, delay = quota_details(info.value)
    assert delay.endswith("s") and abs(float(delay[:-1]) - 26.345679) < 1e-3
    assert f"Please retry in {delay}." in info.value.message


def test_tpm_with_a_huge_prompt(make_client, emulator, frozen):
    client = make_client()
    huge = "word " * 250_001  # flash-lite free: 250,000 input tokens per minute
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash-lite", contents=huge)
    violations, _ = quota_details(info.value)
    assert [v["quotaId"] for v in violations] == ["GenerateContentInputTokensPerModelPerMinute-FreeTier"]
    assert violations[0]["quotaMetric"].endswith("generate_content_free_tier_input_token_count")
    assert violations[0]["quotaValue"] == "250000"
    counters = emulator.counters()["demo"]["gemini-2.5-flash-lite"]
    assert counters["tpm"] == 0 and counters["accepted"] == 0  # rejected requests book nothing


def test_tpm_accumulates_over_requests(make_client, emulator, frozen):
    emulator.set_limits(PRO, "free", tpm=100)
    client = make_client()
    prompt = "one two three four five six seven eight nine ten " * 4  # 40 tokens
    assert client.models.count_tokens(model=PRO, contents=prompt).total_tokens == 40
    client.models.generate_content(model=PRO, contents=prompt)
    client.models.generate_content(model=PRO, contents=prompt)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents=prompt)
    violations, _ = quota_details(info.value)
    assert violations[0]["quotaId"] == "GenerateContentInputTokensPerModelPerMinute-FreeTier"
    assert violations[0]["quotaValue"] == "100"
    assert emulator.counters()["demo"][PRO]["tpm"] == 80


def test_rpd_alone_after_the_minute_passes(make_client, emulator, frozen):
    emulator.add_invisible_usage("demo", PRO, requests=100)
    frozen.advance(60)
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents="hi")
    violations, delay = quota_details(info.value)
    assert [v["quotaId"] for v in violations] == ["GenerateRequestsPerDayPerProjectPerModel-FreeTier"]
    assert violations[0]["quotaValue"] == "100"
    midnight = pacific(2025, 6, 17, 0, 0, 0)
    assert delay == f"{int(midnight - (EMULATOR_T0 + 61))}s"


def test_several_violations_in_one_body(make_client, emulator, frozen):
    emulator.set_limits(PRO, "free", tpm=10)
    emulator.add_invisible_usage("demo", PRO, requests=100, input_tokens=5)
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents="one two three four five six")
    violations, delay = quota_details(info.value)
    assert {v["quotaId"] for v in violations} == {
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    }
    assert info.value.message.count("* Quota exceeded for metric:") == 3
    # one RetryInfo: the longest wait (the day)
    assert float(delay[:-1]) > 3600


def test_ipm_is_zero_on_free_tier_for_the_image_model(make_client, emulator, frozen):
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash-image", contents="a cat")
    violations, _ = quota_details(info.value)
    assert len(violations) == 1
    assert "Images" in violations[0]["quotaId"] and "PerMinute" in violations[0]["quotaId"]
    assert violations[0]["quotaValue"] == "0"


def test_ipm_on_tier1_and_paid_ids(make_client, emulator, frozen):
    emulator.set_tier("demo", "tier1")
    emulator.set_pacing(tokens_per_s=1e6)
    client = make_client()
    for _ in range(10):
        client.models.generate_content(model="gemini-2.5-flash-image", contents="a cat")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash-image", contents="a cat")
    violations, _ = quota_details(info.value)
    assert [v["quotaValue"] for v in violations] == ["10"]
    assert "FreeTier" not in violations[0]["quotaId"]
    assert "paid_tier" in violations[0]["quotaMetric"]


def test_tier_table(emulator):
    assert emulator.limits(PRO) == {"rpm": 5, "tpm": 250_000, "rpd": 100, "ipm": None}
    assert emulator.limits("gemini-2.5-flash") == {"rpm": 15, "tpm": 1_000_000, "rpd": 500, "ipm": None}
    assert emulator.limits("gemini-2.5-flash-lite")["rpd"] == 1_000
    emulator.set_tier("demo", "tier1")
    assert emulator.limits(PRO) == {"rpm": 150, "tpm": 2_000_000, "rpd": 10_000, "ipm": None}
    assert emulator.limits("gemini-2.5-flash")["rpd"] is None
    assert emulator.limits("gemini-2.5-flash-lite")["rpm"] == 4_000
    assert emulator.limits("gemini-2.5-flash-image")["ipm"] == 10
    emulator.set_tier("demo", "tier2")
    assert emulator.limits(PRO)["rpm"] == 1_000
    emulator.set_tier("demo", "tier3")
    assert emulator.limits(PRO)["tpm"] == 16_000_000
    emulator.set_limits(PRO, "tier3", rpd=7)
    assert emulator.limits(PRO)["rpd"] == 7
    emulator.set_limits(PRO, "tier3", rpd=-1)
    assert emulator.limits(PRO)["rpd"] is None


def test_two_keys_share_one_project_and_a_third_is_unaffected(make_client, emulator, frozen):
    a, b, c = make_client(key="key-a"), make_client(key="key-b"), make_client(key="key-c")
    for client in (a, b, a, b, a):
        client.models.generate_content(model=PRO, contents="shared")
    with pytest.raises(errors.ClientError) as info:
        b.models.generate_content(model=PRO, contents="shared")
    assert info.value.code == 429
    for _ in range(5):
        c.models.generate_content(model=PRO, contents="other project")
    counters = emulator.counters()
    assert counters["proj-shared"][PRO]["accepted"] == 5
    assert counters["proj-other"][PRO]["accepted"] == 5
    assert "demo" not in counters


def test_quota_is_per_model(make_client, emulator, frozen):
    client = make_client()
    for _ in range(5):
        client.models.generate_content(model=PRO, contents="hi")
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text


@pytest.mark.parametrize(
    ("label", "start", "hours"),
    [
        ("ordinary", (2025, 6, 16), 24),
        ("spring forward", (2025, 3, 9), 23),
        ("fall back", (2025, 11, 2), 25),
    ],
)
def test_rpd_resets_at_pacific_midnight(make_client, emulator, frozen, label, start, hours):
    day_start = pacific(*start, 0, 0, 0)
    frozen.set(day_start + 1800)  # 00:30 local
    emulator.add_invisible_usage("demo", PRO, requests=100)
    frozen.advance(60)
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents="hi")
    _, delay = quota_details(info.value)
    assert delay == f"{hours * 3600 - 1860}s", label
    frozen.set(day_start + hours * 3600 - 1)  # 23:59:59 local, still the same Pacific day
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=PRO, contents="hi")
    frozen.advance(1)  # midnight
    assert client.models.generate_content(model=PRO, contents="hi").text
    assert emulator.counters()["demo"][PRO]["rpd"] == 1


def test_invisible_usage_causes_a_ghost_429(make_client, emulator, frozen):
    emulator.add_invisible_usage("demo", PRO, requests=3, input_tokens=1000)
    client = make_client()
    client.models.generate_content(model=PRO, contents="hi")
    client.models.generate_content(model=PRO, contents="hi")
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=PRO, contents="hi")  # our third; the server counts six
    counters = emulator.counters()["demo"][PRO]
    assert counters["accepted"] == 2 and counters["ghost_requests"] == 3
    assert counters["rpm"] == 5 and counters["tpm"] == 1000 + 2


def test_ghost_books_continuously_and_stops(make_client, emulator, frozen):
    frozen.set(EMULATOR_T0)
    emulator.set_ghost("demo", PRO, rpm=2.0, input_tokens=1000)
    frozen.advance(59)
    assert emulator.counters()["demo"][PRO]["ghost_requests"] == 1  # at +30 s
    frozen.advance(1)  # +60 s: a new minute, the second ghost request falls in it
    counters = emulator.counters()["demo"][PRO]
    assert counters["ghost_requests"] == 2 and counters["rpm"] == 1 and counters["tpm"] == 1000
    assert counters["rpd"] == 2
    client = make_client()
    frozen.advance(1)
    for _ in range(4):
        client.models.generate_content(model=PRO, contents="hi")
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=PRO, contents="hi")  # we sent 4 of 5: a ghost 429
    frozen.advance(3600)  # an hour later: 120 more ghost requests, computed lazily
    assert emulator.counters()["demo"][PRO]["ghost_requests"] == 122
    emulator.set_ghost("demo", PRO, rpm=0)
    frozen.advance(3600)
    assert emulator.counters()["demo"][PRO]["ghost_requests"] == 122


def test_reset_clears_usage(make_client, emulator, frozen):
    client = make_client()
    client.models.generate_content(model=PRO, contents="hi")
    emulator.set_ghost("demo", PRO, rpm=60)
    emulator.reset()
    frozen.advance(30)
    assert emulator.counters() == {}
