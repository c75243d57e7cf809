"""The team ledger against the sqlite ledger: what admission costs, and what sharing one count is worth.

Run:  python benchmarks/bench_team_ledger.py [--processes 8] [--admissions 400] [--machines 4] [--seconds 20]

Starts its own redis-server on a free loopback port (Debian's `redis-server` must be installed) and the
bundled emulator. Two parts, each measured against its baseline in the same run:

* admission: 1, then 8 processes at once call `try_reserve` (then `release`, untimed) on one project
  whose ledger already holds 10,000 rows of today; the team ledger (Redis, server time) against one sqlite
  file shared by the same processes. p50 / p99 of the `try_reserve` call.
* goodput: 4 "machines" (processes with their own data folders) send forced Pro requests on the free tier
  (5 RPM) for the same span, all on one project — sharing the Redis ledger, against each counting on its
  own sqlite ledger. Answers per minute, and the 429s the emulator sent. Time is compressed: the emulator
  and every machine read one scaled clock (`SPEED` times real time, from one shared start), passed to the
  Redis ledger's scripts instead of the server's `TIME` — the one place the benchmark bends the product —
  and the engines' window is 66 simulated seconds: the emulator's minute plus room for a request's trip,
  which compression stretches (see WINDOW_S).

This is a benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT = "proj-bench"
KEY = "key-bench"
SEED_ROWS = 10_000
SPEED = 20.0
# The engines' window, in simulated seconds: the emulator's minute plus room for a request's trip from
# admission to the server, which compression stretches SPEED times (300 ms real = 6 simulated seconds).
WINDOW_S = 66.0


# -- a private redis-server ------------------------------------------------------------------------------


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench_team_ledger: redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}/0"


def team_ledger(url: str, data_dir: Path, *, clock=None):
    from gemtui.quota.ledger_redis import RedisLedger
    from gemtui.team_ledger import connect, machine_id

    return RedisLedger(
        connect(url, password=None, timeout_s=5.0), PROJECT, owner=machine_id(data_dir / "ledger.sqlite3"), clock=clock
    )


# -- admission latency -------------------------------------------------------------------------------------


def seed_team(ledger, clock, rows: int) -> None:
    """`rows` committed requests of flash spread over today before the last two minutes, booked through
    the engine (the team ledger's only way in)."""
    from gemtui.quota import QuotaEngine
    from gemtui.quota.pacific import day_start

    now = time.time()
    start = day_start(now)
    engine = QuotaEngine(ledger, clock=clock, tier="tier1")
    step = (now - 120 - start) / rows
    for n in range(rows):
        clock.t = start + n * step
        engine.commit(engine.try_reserve(PROJECT, "flash").reservation_id, input_tokens=100)


def seed_sqlite(ledger, rows: int) -> None:
    """The same rows written straight into the sqlite file (one transaction, as a day of use leaves them)."""
    import uuid

    from gemtui.quota.pacific import day_start

    now = time.time()
    start = day_start(now)
    step = (now - 120 - start) / rows
    values = [
        (uuid.uuid4().hex, PROJECT, "gemini-2.5-flash", round((start + n * step) * 1000), 100, 0, "committed")
        for n in range(rows)
    ]
    conn = ledger._conn
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)", values)
    conn.execute("COMMIT")


def admission_worker(kind: str, target: str, data_dir: str, count: int, barrier, results) -> None:
    from gemtui.quota import QuotaEngine, RequestCost
    from gemtui.quota.clock import SystemClock
    from gemtui.quota.ledger import SqliteLedger

    if kind == "redis":
        ledger = team_ledger(target, Path(data_dir))
        clock = ledger.clock
    else:
        ledger, clock = SqliteLedger(target), SystemClock()
    engine = QuotaEngine(ledger, clock=clock, tier="tier1")
    cost = RequestCost(input_tokens=500)
    for _ in range(20):  # warm up: connections, scripts loaded, pages cached
        engine.release(engine.try_reserve(PROJECT, "flash", cost).reservation_id or "")
    barrier.wait()
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        admission = engine.try_reserve(PROJECT, "flash", cost)
        timings.append(time.perf_counter() - began)
        if admission.reservation_id:
            engine.release(admission.reservation_id)
    engine.close()
    results.put(timings)


def measure_admission(kind: str, target: str, tmp: Path, processes: int, count: int) -> list[float]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=admission_worker, args=(kind, target, str(tmp / f"{kind}-{n}"), count, barrier, results))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    timings = [t for _ in workers for t in results.get(timeout=600)]
    for worker in workers:
        worker.join(30)
    return timings


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[round(q * 1000) - 1]


# -- goodput ---------------------------------------------------------------------------------------------


def shared_clock(epoch: float, mono0: float):
    """gemtui's ScaledClock, started at the benchmark's `mono0` (CLOCK_MONOTONIC is one clock for every
    process on the machine), so every machine and the emulator read the same simulated instant."""
    from gemtui.quota.clock import ScaledClock

    clock = ScaledClock(SPEED, epoch)
    clock._real_start = mono0
    return clock


async def machine_run(ledger, clock, base_url: str, seconds: float, barrier) -> dict[str, int]:
    from gemtui.chat.sender import Failed, Finished, Request, Retrying, send
    from gemtui.gemini.client import Turn, make_client
    from gemtui.quota import QuotaEngine

    engine = QuotaEngine(ledger, clock=clock, tier="free", window_s=WINDOW_S)
    client = make_client(KEY, base_url)
    counts = {"answered": 0, "retries": 0, "failed": 0}
    barrier.wait()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        request = Request(turns=[Turn("user", f"question {n} [[tokens=12]]")], preference="pro")
        async for event in send(request, engine=engine, client=client, project=PROJECT):
            if isinstance(event, Retrying):
                counts["retries"] += 1
            elif isinstance(event, Finished) and time.monotonic() <= deadline:
                counts["answered"] += 1
            elif isinstance(event, Failed):
                counts["failed"] += 1
    engine.close()
    return counts


def goodput_worker(
    kind: str, redis_url: str, data_dir: str, base_url: str, seconds: float, timing, barrier, results
) -> None:
    from gemtui.quota.ledger import SqliteLedger

    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    clock = shared_clock(*timing)
    if kind == "redis":
        ledger = team_ledger(redis_url, folder, clock=clock)
    else:
        ledger = SqliteLedger(folder / "ledger.sqlite3", clock)
    results.put(asyncio.run(machine_run(ledger, clock, base_url, seconds, barrier)))


def measure_goodput(kind: str, redis_url: str, tmp: Path, machines: int, seconds: float) -> dict[str, float]:
    from gemtui.emulator import Emulator

    timing = (time.time(), time.monotonic())
    emulator = Emulator(clock=shared_clock(*timing).now, ttft_s=0.01, tokens_per_s=20000.0, keys={KEY: PROJECT})
    emulator.start()
    try:
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(machines), ctx.Queue()
        workers = [
            ctx.Process(
                target=goodput_worker,
                args=(kind, redis_url, str(tmp / f"{kind}-m{n}"), emulator.base_url, seconds, timing, barrier, results),
            )
            for n in range(machines)
        ]
        for worker in workers:
            worker.start()
        per_machine = [results.get(timeout=seconds + 300) for _ in workers]
        for worker in workers:
            worker.join(30)
        server = emulator.counters().get(PROJECT, {}).get("gemini-2.5-pro", {})
    finally:
        emulator.stop()
    answered = sum(m["answered"] for m in per_machine)
    minutes = seconds * SPEED / 60
    return {
        "answered": answered,
        "per_minute": answered / minutes,
        "429s": server.get("rejected_429", 0),
        "retries": sum(m["retries"] for m in per_machine),
        "failed": sum(m["failed"] for m in per_machine),
    }


# -- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--admissions", type=int, default=400, help="timed admissions per process")
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="real seconds of sending per goodput run")
    parser.add_argument("--only", choices=("admission", "goodput"), help="run one part")
    args = parser.parse_args()

    from gemtui.quota.ledger import SqliteLedger
    from tests.clocks import FakeClock

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        redis_process, url = start_redis(tmp)
        try:
            if args.only != "goodput":
                sqlite_path = tmp / "shared.sqlite3"
                seed_sqlite(SqliteLedger(sqlite_path), SEED_ROWS)
                clock = FakeClock()
                seed_team(team_ledger(url, tmp / "seed", clock=clock), clock, SEED_ROWS)
                print(
                    f"admission: try_reserve x {args.admissions} per process, {SEED_ROWS:,} rows of today in "
                    "each ledger"
                )
                for processes in (1, args.processes):
                    figures = {}
                    for kind, target in (("sqlite", str(sqlite_path)), ("redis", url)):
                        timings = measure_admission(kind, target, tmp, processes, args.admissions)
                        figures[kind] = (quantile(timings, 0.5) * 1000, quantile(timings, 0.99) * 1000)
                        print(
                            f"  {processes} process{'es' if processes > 1 else '  '} {kind:<7} "
                            f"p50 {figures[kind][0]:6.2f} ms   p99 {figures[kind][1]:6.2f} ms"
                        )
                    ratio50 = figures["redis"][0] / figures["sqlite"][0]
                    ratio99 = figures["redis"][1] / figures["sqlite"][1]
                    print(
                        f"  {processes} process{'es' if processes > 1 else '  '} redis / sqlite: p50 x{ratio50:.2f}, "
                        f"p99 x{ratio99:.2f}; redis p99 {'meets' if figures['redis'][1] < 5 else 'misses'} "
                        "the 5 ms target"
                    )
            if args.only != "admission":
                print(
                    f"\ngoodput: {args.machines} machines, forced Pro on the free tier (5 RPM), "
                    f"{args.seconds:g} s = {args.seconds * SPEED / 60:g} simulated minutes"
                )
                results = {}
                for kind in ("sqlite", "redis"):
                    results[kind] = measure_goodput(kind, url, tmp, args.machines, args.seconds)
                    r = results[kind]
                    label = "own sqlite each" if kind == "sqlite" else "shared redis"
                    print(
                        f"  {label:<16} {r['per_minute']:5.2f} answers/min ({r['answered']} answered), "
                        f"429s from the server {r['429s']}, retries {r['retries']}, failed {r['failed']}"
                    )
                base = results["sqlite"]["per_minute"] or float("nan")
                print(
                    f"  shared / own: goodput x{results['redis']['per_minute'] / base:.2f}, "
                    f"429s {results['redis']['429s']} vs {results['sqlite']['429s']}"
                )
        finally:
            redis_process.terminate()
            redis_process.wait(10)


if __name__ == "__main__":
    main()
