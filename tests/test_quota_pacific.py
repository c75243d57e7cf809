"""Pacific days: RPD resets at midnight America/Los_Angeles, including the 23- and 25-hour DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gemtui.quota import QuotaEngine, RequestCost
from gemtui.quota.limits import LimitTable
from gemtui.quota.pacific import day_length_s, day_start, next_midnight, pacific_day
from tests.clocks import FakeClock


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_ordinary_day_is_24_hours_and_midnight_is_08_utc_in_winter():
    assert day_length_s(date(2026, 1, 15)) == 86_400
    assert next_midnight(utc(2026, 1, 15, 20, 0)) == utc(2026, 1, 16, 8, 0)


def test_spring_forward_day_has_23_hours():
    # 2026-03-08: clocks jump 02:00 PST -> 03:00 PDT.
    assert day_length_s(date(2026, 3, 8)) == 23 * 3600
    during = utc(2026, 3, 8, 12, 0)  # 05:00 PDT
    assert pacific_day(during) == date(2026, 3, 8)
    assert day_start(during) == utc(2026, 3, 8, 8, 0)  # midnight PST
    assert next_midnight(during) == utc(2026, 3, 9, 7, 0)  # midnight PDT
    assert next_midnight(during) - day_start(during) == 23 * 3600


def test_fall_back_day_has_25_hours():
    # 2026-11-01: clocks fall back 02:00 PDT -> 01:00 PST.
    assert day_length_s(date(2026, 11, 1)) == 25 * 3600
    during = utc(2026, 11, 1, 12, 0)
    assert day_start(during) == utc(2026, 11, 1, 7, 0)  # midnight PDT
    assert next_midnight(during) == utc(2026, 11, 2, 8, 0)  # midnight PST


def test_midnight_belongs_to_the_day_it_starts():
    midnight = utc(2026, 3, 9, 7, 0)
    assert pacific_day(midnight) == date(2026, 3, 9)
    assert pacific_day(midnight - 0.001) == date(2026, 3, 8)
    assert next_midnight(midnight - 0.001) == midnight
    assert next_midnight(midnight) == utc(2026, 3, 10, 7, 0)


def _rpd_engine(tmp_path, start: float) -> tuple[QuotaEngine, FakeClock]:
    clock = FakeClock(start)
    table = LimitTable({"pro": {"rpm": "unlimited", "rpd": 2}})
    return QuotaEngine(clock=clock, table=table, ledger_path=tmp_path / "ledger.sqlite3"), clock


def test_rpd_resets_at_the_short_days_midnight(tmp_path):
    engine, clock = _rpd_engine(tmp_path, utc(2026, 3, 8, 8, 30))  # 00:30 PST on the 23-hour day
    assert engine.try_reserve("p", "pro").granted
    assert engine.try_reserve("p", "pro").granted
    refused = engine.try_reserve("p", "pro")
    assert (refused.granted, refused.dimension) == (False, "rpd")
    assert refused.eta == utc(2026, 3, 9, 7, 0)
    clock.t = refused.eta - 0.001
    assert not engine.try_reserve("p", "pro").granted
    clock.t = refused.eta
    assert engine.try_reserve("p", "pro").granted


def test_rpd_resets_at_the_long_days_midnight(tmp_path):
    engine, clock = _rpd_engine(tmp_path, utc(2026, 11, 1, 7, 0))  # 00:00 PDT on the 25-hour day
    for _ in range(2):
        assert engine.try_reserve("p", "pro").granted
    clock.t = utc(2026, 11, 2, 7, 30)  # 24.5 h later: still the same (25-hour) Pacific day
    refused = engine.try_reserve("p", "pro", RequestCost(10))
    assert not refused.granted
    assert refused.eta == utc(2026, 11, 2, 8, 0)
    clock.t = refused.eta
    assert engine.try_reserve("p", "pro").granted
