"""Eight "machines" (processes with their own data folders) share one project through one Redis, forced
to Pro on the free tier (5 RPM) against the emulator: none is over-admitted, none meets a 429, every request
is answered. One is killed (-9) with its request in flight: its lease runs out and its request stays
counted, once.

Time is compressed the way the code allows: the emulator runs 60 times faster than real time (its minute
is one real second) and the machines' engines use a 2-second window, so a rolling window of theirs always
covers one of the emulator's minutes with room to spare for the request's trip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemtui.emulator import Emulator
from gemtui.quota.ledger import COMMITTED
from gemtui.quota.ledger_redis import RedisLedger

PROJECT = "proj-team"
KEY = "key-team"
PRO = "gemini-2.5-pro"
WINDOW_S = 2.0
LEASE_S = 2.0
MACHINES = 8
REQUESTS = 2  # per surviving machine: 14 for a limit of 5, so windows must turn over twice
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fast_emulator():
    emulator = Emulator(speed=60.0, ttft_s=0.01, tokens_per_s=20000.0, keys={KEY: PROJECT})
    emulator.start()
    yield emulator
    emulator.stop()


def start_machine(name: str, home: Path, emulator: Emulator, redis_url: str, count: int) -> subprocess.Popen:
    env = dict(os.environ)
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMTUI_PROFILE"):
        env.pop(var, None)
    env.update({f"XDG_{part}_HOME": str(home / part.lower()) for part in ("CONFIG", "DATA", "STATE", "CACHE")})
    env["GEMTUI_LEDGER_URL"] = redis_url
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.team_worker",
            "--name",
            name,
            "--base-url",
            emulator.base_url,
            "--key",
            KEY,
            "--project",
            PROJECT,
            "--count",
            str(count),
            "--window-s",
            str(WINDOW_S),
            "--lease-s",
            str(LEASE_S),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_eight_machines_share_pro_without_a_429_and_a_killed_one_stays_counted(
    fast_emulator, redis_server, redis_client, tmp_path
):
    live = f"gemtui:{{{PROJECT}}}:m:{PRO}:live"
    # The victim's request will hang at the server before its first byte (well past the test's end).
    fast_emulator.set_fault("slow_first_byte", seconds=3600.0, model=PRO)
    victim = start_machine("victim", tmp_path / "victim", fast_emulator, redis_server.url, 1)
    wait_until(
        lambda: redis_client.zcard(live) == 1 and not fast_emulator.state.faults.pending(),
        60,
        "the victim's request to be reserved and in flight",
    )
    others = [
        start_machine(f"m{n}", tmp_path / f"m{n}", fast_emulator, redis_server.url, REQUESTS)
        for n in range(1, MACHINES)
    ]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)

    outcomes = []
    for machine in others:
        out, err = machine.communicate(timeout=120)
        assert machine.returncode == 0, err
        assert "Traceback" not in err
        outcomes += [json.loads(line) for line in out.splitlines() if '"request"' in line]

    # Every request answered, none met a 429 on the way, and the server refused none.
    assert len(outcomes) == (MACHINES - 1) * REQUESTS
    assert all(o["outcome"] == "finished" and o["retries"] == 0 for o in outcomes), outcomes
    counted = fast_emulator.counters()[PROJECT][PRO]
    assert counted["rejected_429"] == 0
    assert counted["accepted"] == (MACHINES - 1) * REQUESTS  # the victim's never reached the model

    # No window of the ledger ever held more than Pro's 5 requests.
    ledger = RedisLedger(redis_server.client(), PROJECT, owner="observer")
    rows = ledger.usage_between(PROJECT, PRO, 0, 2**62)
    assert len(rows) == (MACHINES - 1) * REQUESTS + 1
    stamps = [r.ts_ms for r in rows]
    over = [i for i in range(len(stamps) - 5) if stamps[i + 5] - stamps[i] < WINDOW_S * 1000]
    assert over == []

    # The killed machine's reservation: its lease ran out, and it counts as sent — once.
    wait_until(lambda: ledger.clock.now() * 1000 > stamps[0] + LEASE_S * 1000, 10, "the lease to run out")
    ledger.snapshot(PROJECT, PRO, now_ms=0, window_ms=1, day_start_ms=0)  # settles what ran out, if not yet
    stored = {rid: json.loads(row) for rid, row in redis_client.hgetall(f"gemtui:{{{PROJECT}}}:req").items()}
    expired = [rid for rid, row in stored.items() if row.get("expired")]
    assert len(expired) == 1 and stored[expired[0]]["ts"] == stamps[0]  # the victim's, reserved first
    assert sorted(row["state"] for row in stored.values()) == ["committed"] * len(rows)
    assert ledger.get(expired[0]).state == COMMITTED
    assert ledger.release(expired[0]) is not None  # a late release hands nothing back
    assert ledger.get(expired[0]).state == COMMITTED
    day = ledger.usage_by_day(PROJECT, PRO, ledger_today(ledger), round(ledger.clock.now() * 1000))
    assert sum(d.requests for d in day.values()) == (MACHINES - 1) * REQUESTS + 1


def ledger_today(ledger):
    from gemtui.quota.pacific import pacific_day

    return pacific_day(ledger.clock.now())
