"""Gauges: one shape for the TUI, `gemtui quota --json` and the plain-text table."""

from __future__ import annotations

from datetime import datetime

from gemtui.commands._quota_table import format_gauges_table
from gemtui.quota import QuotaEngine, QuotaHit, RequestCost, Violation
from tests.clocks import FakeClock

T0 = 1_767_225_600.0


def test_gauges_json_shape(tmp_path):
    clock = FakeClock(T0)
    engine = QuotaEngine(clock=clock, tier="tier2", ledger_path=tmp_path / "ledger.sqlite3")
    engine.try_reserve("p", "pro", RequestCost(1_234))
    engine.on_rate_limited("p", "flash", QuotaHit((Violation("tpm", 4_000_000, False),), retry_delay_s=26))
    data = engine.gauges_json("work", "p", ["pro", "flash"])
    assert set(data) == {"profile", "tier", "models", "history_days", "history", "circuits"}
    assert (data["profile"], data["tier"]) == ("work", "tier2")
    assert list(data["models"]) == ["gemini-2.5-pro", "gemini-2.5-flash"]
    for dims in data["models"].values():
        assert list(dims) == ["rpm", "tpm", "rpd", "ipm"]
        for gauge in dims.values():
            assert set(gauge) == {"used", "limit", "remaining", "resets_at", "blocked_until", "source", "team"}
    pro = data["models"]["gemini-2.5-pro"]
    assert pro["tpm"] == {
        "used": 1_234,
        "limit": 8_000_000,
        "remaining": 8_000_000 - 1_234,
        "resets_at": "2026-01-01T00:01:00+00:00",
        "blocked_until": None,
        "source": "table",
        "team": 0,
    }
    assert pro["rpd"]["limit"] is None and pro["rpd"]["remaining"] is None
    assert pro["rpd"]["resets_at"] == "2026-01-01T08:00:00+00:00"
    flash_tpm = data["models"]["gemini-2.5-flash"]["tpm"]
    assert flash_tpm["blocked_until"] == "2026-01-01T00:00:26+00:00"
    assert datetime.fromisoformat(flash_tpm["blocked_until"]).timestamp() == T0 + 26


def test_gauges_table_lists_every_model_and_dimension(tmp_path):
    engine = QuotaEngine(clock=FakeClock(T0), ledger_path=tmp_path / "ledger.sqlite3")
    engine.try_reserve("p", "pro", RequestCost(12_000))
    text = format_gauges_table(
        engine.gauges_json("default", "p", ["pro", "lite"]), now=datetime.fromtimestamp(T0).astimezone()
    )
    lines = text.splitlines()
    assert lines[0] == "profile default · tier free"
    assert lines[1].split()[:2] == ["MODEL", "DIM"]
    assert len(lines) == 2 + 2 * 4
    pro_tpm = next(line for line in lines if line.startswith("gemini-2.5-pro") and " TPM " in line)
    assert "12,000/250,000" in pro_tpm and "238,000" in pro_tpm and pro_tpm.rstrip().endswith("table")
    assert datetime.fromtimestamp(T0 + 60).strftime("%H:%M:%S") in pro_tpm


def test_usage_today_buckets_requests_and_tokens_by_hour(tmp_path):
    from gemtui.quota.engine import QuotaEngine, RequestCost
    from gemtui.quota.pacific import day_start_ms
    from tests.clocks import FakeClock

    clock = FakeClock()
    engine = QuotaEngine(clock=clock, ledger_path=tmp_path / "l.sqlite3")
    clock.t = day_start_ms(round(clock.now() * 1000)) / 1000 + 3600 * 2 + 5  # 02:00:05 Pacific
    for tokens in (100, 200):
        granted = engine.try_reserve("p", "pro", RequestCost(input_tokens=tokens))
        engine.commit(granted.reservation_id, input_tokens=tokens + 1)
    clock.advance(3600 * 3)  # 05:00:05
    released = engine.try_reserve("p", "pro", RequestCost(input_tokens=50))
    engine.release(released.reservation_id)
    engine.try_reserve("p", "pro", RequestCost(input_tokens=7))
    series = engine.usage_today("p", "pro")
    assert len(series) == 24
    assert series[2] == (2, 302) and series[5] == (1, 7), "released requests do not count"
    assert sum(requests for requests, _ in series) == 3
    engine.close()


def test_a_model_the_table_does_not_know_reads_unknown_learning_not_unlimited(tmp_path):
    engine = QuotaEngine(clock=FakeClock(T0), ledger_path=tmp_path / "ledger.sqlite3")
    engine.try_reserve("p", "gemini-3-pro", RequestCost(500))
    text = format_gauges_table(
        engine.gauges_json("default", "p", ["gemini-3-pro", "pro"]), now=datetime.fromtimestamp(T0).astimezone()
    )
    new_rpm = next(line for line in text.splitlines() if line.startswith("gemini-3-pro") and " RPM " in line)
    assert "1/unknown" in new_rpm and new_rpm.rstrip().endswith("unknown — learning")
    assert "unlimited" not in new_rpm
    pro_rpd = next(line for line in text.splitlines() if line.startswith("gemini-2.5-pro") and " RPD " in line)
    assert pro_rpd.rstrip().endswith("table")
