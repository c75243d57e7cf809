"""The shared sqlite ledger: several processes never over-admit; a corrupt file is set aside, not fatal."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

from gemtui.quota import QuotaEngine, RequestCost
from gemtui.quota.ledger import SqliteLedger
from gemtui.quota.limits import LimitTable
from tests.clocks import FakeClock

T0 = 1_767_225_600.0
LIMIT = 100
WORKERS = 4
ATTEMPTS = 60


def _hammer(path: str, start, results) -> None:
    """One process: try_reserve in a tight loop, all processes at once and at the same (fixed) instant."""
    engine = QuotaEngine(clock=FakeClock(T0), table=LimitTable({"flash": {"rpm": LIMIT}}), ledger_path=path)
    start.wait()  # every process has opened the ledger: now they race
    granted = sum(engine.try_reserve("shared", "flash", RequestCost(10)).granted for _ in range(ATTEMPTS))
    engine.close()
    results.put(granted)


def test_processes_sharing_a_ledger_never_over_admit(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(path, start, results)) for _ in range(WORKERS)]
    for proc in procs:
        proc.start()
    counts = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert sum(counts) == LIMIT
    engine = QuotaEngine(clock=FakeClock(T0), table=LimitTable({"flash": {"rpm": LIMIT}}), ledger_path=path)
    assert engine.gauges("shared", ["flash"])["gemini-2.5-flash"]["rpm"].used == LIMIT


def test_ledger_uses_wal(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path, FakeClock(T0)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_ledger_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    engine = QuotaEngine(clock=FakeClock(T0), ledger_path=path)
    assert len(engine.warnings) == 1 and "moved it to" in engine.warnings[0]
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == junk
    assert aside[0].name.startswith("ledger.sqlite3.corrupt-20260101T000000Z")
    assert engine.try_reserve("p", "pro").granted
    engine.close()
    again = QuotaEngine(clock=FakeClock(T0), ledger_path=path)
    assert again.warnings == []
    assert again.gauges("p", ["pro"])["gemini-2.5-pro"]["rpm"].used == 1


def test_rows_older_than_two_pacific_days_are_pruned(tmp_path):
    clock = FakeClock(T0)  # 16:00 Pacific on Dec 31
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", clock)
    engine = QuotaEngine(ledger, clock=clock)
    engine.try_reserve("p", "pro")
    clock.advance(9 * 3600)  # Jan 1, 01:00 Pacific: yesterday's row is kept
    assert ledger.prune(round(clock.now() * 1000)) == 0
    clock.advance(24 * 3600)  # Jan 2: the Dec 31 row is two days old
    assert ledger.prune(round(clock.now() * 1000)) == 1
