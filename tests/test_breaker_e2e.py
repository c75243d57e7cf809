"""The circuit breaker end to end: real SDK, real HTTP, the emulator failing on demand.

A run of 503s on Pro opens its circuit; auto mode then answers from Flash without touching Pro; a forced
Pro request waits for the probe time, the probe succeeds and closes the circuit. `gemtui quota --json`
shows the circuit object.
"""

from __future__ import annotations

import json
import time

import pytest

from gemtui import paths
from gemtui.chat.sender import Failed, Finished, Retrying, Routed, Waiting, send
from gemtui.cli import main
from gemtui.gemini.client import make_client
from gemtui.quota.breaker import BreakerPolicy
from gemtui.runtime import breaker_endpoint
from tests.fixtures_e2e import PROJECT, ask, collect

PRO, FLASH = "gemini-2.5-pro", "gemini-2.5-flash"


def accepted(emulator, model: str) -> int:
    return emulator.counters().get(PROJECT, {}).get(model, {}).get("accepted", 0)


async def until_waiting(agen) -> list:
    """Events up to the first Waiting, then the request is abandoned (as a user pressing Esc)."""
    events = []
    async for event in agen:
        events.append(event)
        if isinstance(event, Waiting):
            break
    await agen.aclose()
    return events


async def test_503s_open_pro_auto_skips_it_forced_waits_for_the_probe_that_closes_it(
    emulator, engine_factory, client, shared_clock
):
    engine = engine_factory()
    emulator.set_fault("overloaded", count=4, model=PRO)

    events = await until_waiting(send(ask("q1", "pro"), engine=engine, client=client, project=PROJECT))
    retries = [e for e in events if isinstance(e, Retrying)]
    assert len(retries) == 4 and {e.model for e in retries} == {PRO}
    assert "circuit open — probing at" in retries[-1].reason, "the failure that opened it says so"
    waiting = events[-1]
    circuit = engine.circuits([PRO])[PRO]
    assert circuit.state == "open" and (circuit.failures, circuit.requests) == (4, 4)
    assert waiting.model == PRO and waiting.dimension == "circuit"
    assert waiting.until == pytest.approx(circuit.probe_at) and circuit.cooling_s == 30
    assert circuit.probe_at == int(circuit.probe_at) and 30 <= circuit.probe_at - circuit.opened_at < 31
    assert "circuit open — probing at" in waiting.reason

    opened_at = shared_clock.now()
    events = await collect(send(ask("q2"), engine=engine, client=client, project=PROJECT))
    routed = next(e for e in events if isinstance(e, Routed))
    assert routed.model == FLASH and "circuit open" in routed.note
    assert not any(isinstance(e, Waiting | Retrying) for e in events), "auto does not wait for an open circuit"
    assert isinstance(events[-1], Finished) and events[-1].model == FLASH
    assert shared_clock.now() == pytest.approx(opened_at, abs=0.5)
    assert accepted(emulator, PRO) == 0, "nothing was sent to Pro while its circuit was open"

    events = await collect(send(ask("q3", "pro"), engine=engine, client=client, project=PROJECT))
    (waiting,) = [e for e in events if isinstance(e, Waiting)]
    assert waiting.dimension == "circuit" and waiting.until == pytest.approx(circuit.probe_at)
    assert isinstance(events[-1], Finished) and events[-1].model == PRO
    assert shared_clock.now() >= circuit.probe_at, "the probe went at the probe time, not before"
    assert accepted(emulator, PRO) == 1
    assert engine.circuits([PRO])[PRO].state == "closed"
    # The four 503'd attempts left the machine, so they are booked (RPM 5/5 with the probe): let them age out.
    await shared_clock.sleep(60)
    events = await collect(send(ask("q4"), engine=engine, client=client, project=PROJECT))
    assert next(e for e in events if isinstance(e, Routed)).model == PRO, "closed again: auto prefers Pro"


async def test_auto_skips_a_circuit_whose_probe_is_near_unless_the_policy_is_wait(
    emulator, engine_factory, client, shared_clock
):
    engine = engine_factory(breaker_policy=BreakerPolicy(cooling_s=5))
    emulator.set_fault("overloaded", count=4, model=PRO)
    await until_waiting(send(ask("q1", "pro"), engine=engine, client=client, project=PROJECT))
    assert engine.circuits([PRO])[PRO].cooling_s == 5
    events = await collect(send(ask("q2", threshold_s=20), engine=engine, client=client, project=PROJECT))
    assert next(e for e in events if isinstance(e, Routed)).model == FLASH, (
        "a probe 5 s away is still no reason to wait: the probe may fail"
    )
    assert not any(isinstance(e, Waiting) for e in events)
    events = await collect(send(ask("q3", policy="wait"), engine=engine, client=client, project=PROJECT))
    assert [e.dimension for e in events if isinstance(e, Waiting)] == ["circuit"]
    assert isinstance(events[-1], Finished) and events[-1].model == PRO


async def test_a_failed_probe_reopens_for_twice_as_long(emulator, engine_factory, client, shared_clock):
    engine = engine_factory()
    emulator.set_fault("overloaded", count=4, model=PRO)
    await until_waiting(send(ask("q1", "pro"), engine=engine, client=client, project=PROJECT))
    first = engine.circuits([PRO])[PRO]
    await shared_clock.sleep(first.probe_at - shared_clock.now())
    emulator.set_fault("overloaded", count=1, model=PRO)  # the probe meets one more 503
    events = await until_waiting(send(ask("q2", "pro"), engine=engine, client=client, project=PROJECT))
    assert [type(e) for e in events][:2] == [Routed, Retrying]
    again = engine.circuits([PRO])[PRO]
    assert again.state == "open" and again.cooling_s == 60 and again.opened_at >= first.probe_at
    assert events[-1].dimension == "circuit" and events[-1].until == pytest.approx(again.probe_at)


@pytest.mark.parametrize("fault", ["overloaded", "internal", "bare_429"])
async def test_each_server_failure_counts(emulator, engine_factory, client, fault):
    engine = engine_factory()
    emulator.set_fault(fault, count=4, model=PRO)
    events = await until_waiting(send(ask("q", "pro"), engine=engine, client=client, project=PROJECT))
    assert events[-1].dimension == "circuit"
    assert engine.circuits([PRO])[PRO].state == "open"


async def test_a_quota_429_is_not_a_breaker_failure(emulator, engine_factory, client):
    engine = engine_factory(breaker_policy=BreakerPolicy(window_s=300))  # the 429's minute-long wait stays in it
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)  # another client holds Pro's minute
    events = []
    async for event in send(ask("q", "pro"), engine=engine, client=client, project=PROJECT):
        events.append(event)
        if isinstance(event, Retrying) and sum(isinstance(e, Retrying) for e in events) == 1:
            emulator.set_fault("overloaded", count=3, model=PRO)  # then three 503s, then an answer
    assert isinstance(events[-1], Finished)
    assert emulator.counters()[PROJECT][PRO]["rejected_429"] == 1
    circuit = engine.circuits([PRO])[PRO]
    # Counted, the quota 429 would make the third 503 the fourth failure of 4 and open the circuit.
    assert (circuit.state, circuit.failures, circuit.requests) == ("closed", 3, 4)


async def test_cut_streams_feed_the_breaker(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("cut_stream", count=4, after_chunks=1, model=PRO)
    for n in range(4):
        events = await collect(
            send(ask(f"long answer {n} [[tokens=200]]", "pro"), engine=engine, client=client, project=PROJECT)
        )
        assert isinstance(events[-1], Failed) and events[-1].partial, "the partial answer is kept"
        assert events[-1].failure.kind == "stream_cut"
    assert engine.circuits([PRO])[PRO].state == "open"
    refused = engine.check(PROJECT, PRO)
    assert refused.dimension == "circuit" and not refused.granted


def test_quota_json_shows_the_circuit(emulator, emulator_clock, monkeypatch, capsys):
    """The command reads the ledger with the real clock: the emulator runs on real time here."""
    import asyncio

    from gemtui.quota.engine import QuotaEngine
    from tests.fixtures_e2e import SharedClock

    emulator_clock.set(time.time(), running=False)
    clock = SharedClock(emulator_clock)
    engine = QuotaEngine(
        clock=clock, tier="free", ledger_path=paths.ledger_file(), endpoint=breaker_endpoint(emulator.base_url)
    )
    emulator.set_fault("overloaded", count=4, model=PRO)
    client = make_client("key-a", emulator.base_url)
    asyncio.run(until_waiting(send(ask("q", "pro"), engine=engine, client=client, project=PROJECT)))
    engine.close()

    monkeypatch.setenv("GEMINI_API_KEY", "key-a")
    assert main(["quota", "--json", "--endpoint", emulator.base_url]) == 0
    out, err = capsys.readouterr()
    circuits = json.loads(out)["circuits"]
    assert circuits[PRO]["state"] == "open"
    assert (circuits[PRO]["failures"], circuits[PRO]["requests"]) == (4, 4)
    assert circuits[PRO]["opened_at"] and circuits[PRO]["probe_at"] > circuits[PRO]["opened_at"]
    assert circuits[FLASH]["state"] == "closed" and circuits[FLASH]["probe_at"] is None
    assert main(["quota", "--endpoint", emulator.base_url]) == 0
    out, _ = capsys.readouterr()
    assert f"{PRO}  circuit open — probing at " in out and "4 failures of 4 requests" in out
    assert f"{FLASH}  circuit" not in out
