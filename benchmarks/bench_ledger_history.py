"""What keeping usage history costs the ledger: admission, and the prune that folds old rows into days.

Run:  python benchmarks/bench_ledger_history.py [--rows-per-day 20000] [--reserves 2000]

Two ledgers hold the same two Pacific days of request rows (4 models, one project); one also holds a year of
per-day rollups for 4 models x 20 projects. Timed in the same run:

* admission: `try_reserve` + `commit` through the engine, as the app does, on each ledger (p50 / p99);
* prune:     a day of rows leaving the request table, folded into its day (history_days = 30) against the
             plain delete the old code did (history_days = 1 keeps no days, so nothing is folded).

This is a benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemtui.quota import QuotaEngine, RequestCost  # noqa: E402
from gemtui.quota.ledger import SqliteLedger  # noqa: E402
from gemtui.quota.limits import LimitTable  # noqa: E402
from gemtui.quota.pacific import pacific_day  # noqa: E402
from tests.clocks import FakeClock  # noqa: E402

T0 = 1_767_225_600.0  # 16:00 Pacific
MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash")


def _fill_rows(ledger: SqliteLedger, days_back: tuple[int, ...], per_day: int) -> None:
    rows = []
    for back in days_back:
        base = int((T0 - back * 86_400) * 1000)
        step = max(1, 50_000_000 // per_day)  # spread over ~14 h before 16:00
        rows += [
            (uuid.uuid4().hex, "p", MODELS[i % len(MODELS)], base - i * step, 100, 0, "committed")
            for i in range(per_day)
        ]
    conn = ledger._conn
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


def _fill_rollups(ledger: SqliteLedger, days: int) -> None:
    today = pacific_day(T0)
    rows = [
        (f"project-{p}", model, (today - timedelta(days=d)).isoformat(), 500, 90_000, 0)
        for p in range(20)
        for model in MODELS
        for d in range(2, days)
    ]
    conn = ledger._conn
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO usage_days VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


def _engine(path: Path, clock: FakeClock) -> QuotaEngine:
    ledger = SqliteLedger(path, clock)
    ledger._next_prune_ms = 10**15  # time admission alone; prune is timed on its own below
    table = LimitTable({m: {"rpm": 10**9, "tpm": 10**12, "rpd": 10**9} for m in MODELS})
    return QuotaEngine(ledger, clock=clock, table=table)


def _admission(paths: dict[str, Path], reserves: int) -> dict[str, list[float]]:
    """Requests alternate between the ledgers, so load from elsewhere on the machine hits both alike."""
    clock = FakeClock(T0)
    engines = {name: _engine(path, clock) for name, path in paths.items()}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for i in range(reserves):
        clock.t = T0 + i * 0.01
        for name, engine in engines.items():
            start = time.perf_counter()
            granted = engine.try_reserve("p", MODELS[i % len(MODELS)], RequestCost(input_tokens=100))
            engine.commit(granted.reservation_id, input_tokens=100)
            times[name].append(time.perf_counter() - start)
    for engine in engines.values():
        engine.close()
    return times


def _prune(path: Path, history_days: int) -> float:
    ledger = SqliteLedger(path, FakeClock(T0), history_days=history_days)
    ledger._next_prune_ms = 10**15
    start = time.perf_counter()
    ledger.prune(int(T0 * 1000))
    took = time.perf_counter() - start
    ledger.close()
    return took


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    parser.add_argument("--reserves", type=int, default=2_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ledger-"))

    paths = {}
    for name, rollups in (("no history", False), ("a year of rollups", True)):
        paths[name] = work / f"admit-{rollups}.sqlite3"
        ledger = SqliteLedger(paths[name], FakeClock(T0))
        _fill_rows(ledger, (1, 0), args.rows_per_day)
        if rollups:
            _fill_rollups(ledger, 366)
        ledger.close()
    figures = _admission(paths, args.reserves)
    print(f"admission (try_reserve + commit), {args.reserves} requests, {args.rows_per_day:,} rows a day:")
    for name, times in figures.items():
        print(
            f"  {name:<18} p50 {_ms(times, 0.5):.3f} ms  p99 {_ms(times, 0.99):.3f} ms  "
            f"mean {1000 * statistics.fmean(times):.3f} ms"
        )
    ratio = statistics.median(figures["a year of rollups"]) / statistics.median(figures["no history"])
    print(f"  ratio of medians (history / none): {ratio:.2f}")

    prunes = {}
    for name, days in (("plain delete (history_days = 1)", 1), ("fold into days (history_days = 30)", 30)):
        path = work / f"prune-{days}.sqlite3"
        ledger = SqliteLedger(path, FakeClock(T0))
        _fill_rows(ledger, (2, 1, 0), args.rows_per_day)
        ledger.close()
        prunes[name] = _prune(path, days)
    print(f"prune, {args.rows_per_day:,} rows leaving the request table:")
    for name, took in prunes.items():
        print(f"  {name:<36} {1000 * took:.1f} ms")


if __name__ == "__main__":
    main()
