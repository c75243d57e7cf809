"""Usage history: request rows folded into per-day rollups kept for `history_days`, the schema upgrade of a
ledger written by an older gemtui, the `[quota] history_days` setting, and the text the history renders to."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest

from gemtui.commands._quota_table import format_history
from gemtui.config import ConfigError, load_config
from gemtui.quota import QuotaEngine, RequestCost
from gemtui.quota.ledger import LEDGER_VERSION, SqliteLedger
from gemtui.quota.limits import LimitTable
from gemtui.quota.pacific import pacific_day
from gemtui.sparkline import sparkline
from tests.clocks import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z = 16:00 Pacific on Wed Dec 31 2025
DAY = 24 * 3600
TODAY = date(2025, 12, 31)


def _use(engine: QuotaEngine, model: str = "pro", requests: int = 1, tokens: int = 100, images: int = 0) -> None:
    for _ in range(requests):
        granted = engine.try_reserve("p", model, RequestCost(input_tokens=tokens, images=images))
        assert granted.granted, granted.reason
        engine.commit(granted.reservation_id, input_tokens=tokens, images=images)


def _engine(tmp_path, clock: FakeClock, **kwargs) -> QuotaEngine:
    table = LimitTable({"pro": {"ipm": 10}})  # images are usage too: let Pro take some
    return QuotaEngine(clock=clock, tier="tier1", table=table, ledger_path=tmp_path / "ledger.sqlite3", **kwargs)


def _rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]


def test_rows_ten_days_old_count_in_history_and_rows_past_the_period_are_purged(tmp_path):
    clock = FakeClock(T0 - 40 * DAY)
    engine = _engine(tmp_path, clock)
    _use(engine, requests=4)  # 40 days ago: past the 30 kept
    clock.t = T0 - 10 * DAY
    _use(engine, requests=2, tokens=1_000, images=1)
    _use(engine, model="flash", requests=1)
    released = engine.try_reserve("p", "pro", RequestCost(input_tokens=5))
    engine.release(released.reservation_id)  # a released request was never usage
    clock.t = T0 - 3 * DAY
    _use(engine, requests=1, tokens=50)
    clock.t = T0
    _use(engine, requests=3, tokens=10)

    history = engine.usage_history("p", "pro")
    assert len(history) == 30
    assert history[0].day == TODAY - timedelta(days=29) and history[-1].day == TODAY
    by_day = {d.day: d for d in history}
    ten = by_day[TODAY - timedelta(days=10)]
    assert (ten.requests, ten.tokens, ten.images) == (2, 2_000, 2)
    assert by_day[TODAY - timedelta(days=3)].requests == 1 and by_day[TODAY].requests == 3
    assert sum(d.requests for d in history) == 6, "the 40-day-old requests are gone, the released never counted"
    assert [d.requests for d in engine.usage_history("p", "flash")][-11] == 1, "each model keeps its own days"
    assert _rows(tmp_path / "ledger.sqlite3") == 3, "only today's request rows remain for admission to read"
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        days = [row[0] for row in conn.execute("SELECT day FROM usage_days ORDER BY day")]
    assert days == ["2025-12-21", "2025-12-21", "2025-12-28"], "one rollup row per model and day, nothing older"
    engine.close()


def test_the_history_setting_decides_how_many_days_are_kept(tmp_path):
    clock = FakeClock(T0 - 10 * DAY)
    engine = _engine(tmp_path, clock, history_days=7)
    _use(engine, requests=2)
    clock.t = T0 - 2 * DAY
    _use(engine)
    clock.t = T0
    _use(engine)
    history = engine.usage_history("p", "pro")
    assert [d.requests for d in history] == [0, 0, 0, 0, 1, 0, 1]
    engine.close()
    longer = _engine(tmp_path, clock, history_days=30)
    assert sum(d.requests for d in longer.usage_history("p", "pro")) == 2, "what was purged stays purged"
    longer.close()


def test_yesterday_stays_rows_and_rolling_up_twice_never_counts_twice(tmp_path):
    clock = FakeClock(T0)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", clock)
    engine = QuotaEngine(ledger, clock=clock)
    _use(engine, requests=2)
    clock.advance(DAY)  # the rows are yesterday's: still rows
    assert ledger.prune(round(clock.now() * 1000)) == 0
    assert engine.usage_history("p", "pro", days=2)[0].requests == 2
    clock.advance(DAY)
    assert ledger.prune(round(clock.now() * 1000)) == 2
    assert ledger.prune(round(clock.now() * 1000)) == 0
    # a row written late for a day already rolled up (another process's clock was behind) is added to it
    ledger._conn.execute(
        "INSERT INTO requests (id, project, model, ts_ms, tokens, images, state) VALUES "
        "('late', 'p', 'gemini-2.5-pro', ?, 7, 0, 'committed')",
        (round(T0 * 1000) + 60_000,),
    )
    ledger.prune(round(clock.now() * 1000))
    first = engine.usage_history("p", "pro", days=3)[0]
    assert (first.day, first.requests, first.tokens) == (TODAY, 3, 207)
    engine.close()


def test_admission_reads_only_the_current_windows_through_the_index(tmp_path):
    clock = FakeClock(T0 - 20 * DAY)
    engine = _engine(tmp_path, clock)
    for back in range(20, -1, -1):
        clock.t = T0 - back * DAY
        _use(engine, requests=2)
    ledger = engine.ledger
    statements: list[str] = []
    ledger._conn.set_trace_callback(statements.append)
    assert engine.try_reserve("p", "pro", RequestCost(10)).granted
    ledger._conn.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert reads and not any("usage_days" in s for s in reads), "admission never reads the history"
    for statement in (s for s in reads if "FROM requests" in s):
        plan = " ".join(str(row[-1]) for row in ledger._conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "USING INDEX requests_scope_ts" in plan and "SCAN" not in plan, plan
    engine.close()


OLD_SCHEMA = """
CREATE TABLE requests (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, model TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    tokens INTEGER NOT NULL, images INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX requests_scope_ts ON requests (project, model, ts_ms);
CREATE TABLE blocks (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, until_ms INTEGER NOT NULL,
    PRIMARY KEY (project, model, dimension));
CREATE TABLE learned_limits (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, value INTEGER,
    tier TEXT NOT NULL, learned_ms INTEGER NOT NULL, PRIMARY KEY (project, model, dimension));
CREATE TABLE adjustments (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, lowered_to INTEGER NOT NULL,
    at_ms INTEGER NOT NULL, {strikes} PRIMARY KEY (project, model, dimension));
CREATE TABLE project_tier (
    project TEXT PRIMARY KEY, tier TEXT NOT NULL, configured TEXT NOT NULL, updated_ms INTEGER NOT NULL);
"""


@pytest.mark.parametrize("strikes", ["strikes INTEGER NOT NULL DEFAULT 1,", ""], ids=["before-history", "oldest"])
def test_a_ledger_written_by_the_old_code_is_upgraded_in_place(tmp_path, strikes):
    path = tmp_path / "ledger.sqlite3"
    now_ms = round(T0 * 1000)
    with sqlite3.connect(path) as conn:  # as the old code left it: no schema version, no history table
        conn.executescript(OLD_SCHEMA.format(strikes=strikes))
        conn.executemany(
            "INSERT INTO requests VALUES (?, 'p', 'gemini-2.5-pro', ?, 100, 0, 'committed')",
            [("yesterday", now_ms - DAY * 1000), ("now-1", now_ms - 30_000), ("now-2", now_ms - 20_000)],
        )
        conn.execute(
            "INSERT INTO adjustments (project, model, dimension, lowered_to, at_ms) "
            "VALUES ('p', 'gemini-2.5-pro', 'rpm', 3, ?)",
            (now_ms - 1_000,),
        )
        conn.execute("INSERT INTO learned_limits VALUES ('p', 'gemini-2.5-pro', 'tpm', 123456, 'free', ?)", (now_ms,))
    clock = FakeClock(T0)
    engine = QuotaEngine(clock=clock, ledger_path=path)
    assert engine.warnings == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LEDGER_VERSION
        assert "strikes" in {row[1] for row in conn.execute("PRAGMA table_info(adjustments)")}
    gauges = engine.gauges("p", ["pro"])["gemini-2.5-pro"]
    assert gauges["rpm"].used == 2 and gauges["rpm"].limit == 3, "rows and the adjustment survived"
    assert gauges["tpm"].limit == 123_456 and gauges["tpm"].source == "learned"
    clock.advance(2 * DAY)
    _use(engine, requests=1)
    assert [d.requests for d in engine.usage_history("p", "pro", days=4)] == [1, 2, 0, 1], (
        "the old rows were rolled into the new history table"
    )
    engine.close()
    again = QuotaEngine(clock=clock, ledger_path=path)  # opening an up-to-date file changes nothing
    assert [d.requests for d in again.usage_history("p", "pro", days=4)] == [1, 2, 0, 1]
    again.close()


def test_history_days_setting_is_read_and_checked(tmp_path):
    path = tmp_path / "config.toml"
    assert load_config(path).history_days == 30
    path.write_text("[quota]\nhistory_days = 90\n")
    assert load_config(path).history_days == 90
    for bad in ("0", "367", "-3", "7.5", '"30"', "true"):
        path.write_text(f"[quota]\nhistory_days = {bad}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        message = str(caught.value)
        assert str(path) in message and "[quota] history_days" in message and "from 1 to 366" in message
        assert "\n" not in message


def test_the_runtime_hands_the_setting_to_the_ledger(tmp_path):
    from gemtui.config import Config
    from gemtui.runtime import build_runtime

    config = Config({"quota": {"history_days": 7}})
    runtime = build_runtime(
        profile_name="x",
        project="p",
        tier="free",
        api_key="k",
        endpoint=None,
        api_version=None,
        config=config,
        clock=FakeClock(T0),
        ledger_path=tmp_path / "ledger.sqlite3",
    )
    assert runtime.engine.history_days == 7 and runtime.engine.ledger.history_days == 7
    assert len(runtime.engine.usage_history("p", "pro")) == 7
    runtime.engine.close()


def test_history_json_and_text(tmp_path):
    clock = FakeClock(T0 - 2 * DAY)
    engine = _engine(tmp_path, clock, history_days=5)
    _use(engine, requests=4, tokens=1_500, images=1)
    clock.t = T0
    _use(engine, requests=1, tokens=500)
    data = engine.gauges_json("work", "p", ["pro", "flash"])
    assert data["history_days"] == 5 and list(data["history"]) == ["gemini-2.5-pro", "gemini-2.5-flash"]
    pro = data["history"]["gemini-2.5-pro"]
    assert [d["day"] for d in pro["days"]] == ["2025-12-27", "2025-12-28", "2025-12-29", "2025-12-30", "2025-12-31"]
    assert pro["days"][2] == {"day": "2025-12-29", "requests": 4, "input_tokens": 6_000, "images": 4}
    assert pro["totals"] == {"requests": 5, "input_tokens": 6_500, "images": 4}
    assert data["history"]["gemini-2.5-flash"]["totals"]["requests"] == 0
    lines = format_history(data).splitlines()
    assert lines[0].startswith("last 5 Pacific days (Dec 27 – Dec 31)")
    assert lines[1] == "gemini-2.5-pro    ··█·▂  5 requests · 6,500 input tokens · 4 images"
    assert lines[2] == "gemini-2.5-flash  ·····  0 requests · 0 input tokens · 0 images"
    engine.close()


def test_sparkline_scales_to_the_busiest_day_and_marks_idle_days():
    assert sparkline([0, 1, 2, 4, 8, 0]) == "·▁▂▄█·"
    assert sparkline([0, 0, 0]) == "···"
    assert sparkline([]) == ""
    assert sparkline([1, 1000]) == "▁█", "any usage shows, however small beside the busiest day"
    assert pacific_day(T0) == TODAY
