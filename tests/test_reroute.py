"""Route around every failure: in auto mode a surprise on Pro is answered by the next model at once.

Real SDK, real HTTP, the emulator enforcing quotas and injecting faults; one simulated clock for both
sides, so "no wait" is checked on the clock itself and the emulator's counters count every 429.
"""

from __future__ import annotations

import asyncio

import pytest

from gemtui import exitcodes
from gemtui.chat.router import decide
from gemtui.chat.sender import (
    AskUser,
    Failed,
    Finished,
    Retrying,
    Routed,
    Waiting,
    estimate_cost,
    send,
)
from gemtui.cli import main
from gemtui.gemini.client import make_client
from tests.fixtures_e2e import PROJECT, ask, collect, server
from tests.fixtures_emulator import EMULATOR_T0

PRO, FLASH = "gemini-2.5-pro", "gemini-2.5-flash"


def routed(events: list) -> list[Routed]:
    return [e for e in events if isinstance(e, Routed)]


def assert_answered_by_flash_at_once(events: list, started: float, clock, why: str) -> Finished:
    assert not [e for e in events if isinstance(e, Waiting | Retrying)], "auto mode does not wait for Pro"
    assert clock.now() == pytest.approx(started, abs=0.5), "no simulated time passed"
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.model == FLASH and finished.switched_from == PRO
    first, route = routed(events)
    assert first.model == PRO, "Pro was asked first"
    assert route.model == FLASH and route.switched and why in route.note and FLASH in route.note
    assert finished.note == route.note, "the answer says why it was switched"
    return finished


# ---- each surprise, in auto mode --------------------------------------------------------------------


async def test_ghost_per_minute_429_is_answered_by_flash_without_waiting(
    emulator, engine_factory, client, shared_clock
):
    engine = engine_factory()
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)  # another client filled Pro's minute
    started = shared_clock.now()
    events = await collect(send(ask("hello"), engine=engine, client=client, project=PROJECT))
    assert_answered_by_flash_at_once(events, started, shared_clock, "RPM")
    assert server(emulator, PRO)["rejected_429"] == 1 and server(emulator, FLASH)["accepted"] == 1
    gauge = engine.gauges(PROJECT, [PRO])[PRO]["rpm"]
    assert gauge.invisible > 0 and gauge.blocked_until is not None, "the surprise was booked"
    again = await collect(send(ask("again"), engine=engine, client=client, project=PROJECT))
    assert routed(again)[0].model == FLASH
    assert server(emulator, PRO)["rejected_429"] == 1, "Pro is not asked again while it is blocked"


async def test_per_day_429_is_answered_by_flash(emulator, engine_factory, client, shared_clock):
    emulator.set_limits(PRO, "free", rpd=3)
    emulator.add_invisible_usage(PROJECT, PRO, requests=3)  # another client spent Pro's day
    engine = engine_factory()
    started = shared_clock.now()
    events = await collect(send(ask("hello"), engine=engine, client=client, project=PROJECT))
    finished = assert_answered_by_flash_at_once(events, started, shared_clock, "daily quota")
    assert "midnight" in finished.note
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpd"].blocked_until is not None
    assert server(emulator, PRO)["rejected_429"] == 1


@pytest.mark.parametrize("fault,why", [("bare_429", "429"), ("overloaded", "503"), ("internal", "500")])
async def test_capacity_and_server_errors_are_answered_by_flash(
    emulator, engine_factory, client, shared_clock, fault, why
):
    engine = engine_factory()
    emulator.set_fault(fault, count=5, model=PRO)
    started = shared_clock.now()
    events = await collect(send(ask("hello"), engine=engine, client=client, project=PROJECT))
    assert_answered_by_flash_at_once(events, started, shared_clock, why)
    assert server(emulator, FLASH)["accepted"] == 1
    # The request left: nothing in a 5xx or a bare 429 proves the server did not count it (docs/quota.md).
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpm"].used == 1, "a sent attempt stays booked"
    # Pro took exactly one attempt: the other four faults are still armed.
    assert [f["count"] for f in emulator.state.faults.pending() if f["kind"] == fault] == [4]


async def test_timeout_is_answered_by_flash_and_stays_booked(emulator, engine_factory, shared_clock):
    engine = engine_factory()
    impatient = make_client("key-a", emulator.base_url, timeout_s=0.3)
    emulator.set_fault("slow_first_byte", count=1, seconds=1.0, model=PRO)
    started = shared_clock.now()
    events = await collect(send(ask("hello"), engine=engine, client=impatient, project=PROJECT))
    assert_answered_by_flash_at_once(events, started, shared_clock, "did not answer in time")
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpm"].used == 1, "it left: the server may have counted it"
    await server_books_the_slow_request(emulator)
    assert server(emulator, PRO)["accepted"] == 1, "and it did"


async def server_books_the_slow_request(emulator, accepted: int = 1) -> None:
    """The emulator answers the timed-out request after its delay: let it land before the next test."""
    for _ in range(100):
        if server(emulator, PRO)["accepted"] >= accepted:
            return
        await asyncio.sleep(0.05)


# ---- forced mode and the policies keep their waits ----------------------------------------------------


async def test_forced_pro_still_waits_out_a_ghost_429(emulator, engine_factory, client, shared_clock):
    engine = engine_factory()
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)
    events = await collect(send(ask("hello", "pro"), engine=engine, client=client, project=PROJECT))
    assert [e.model for e in events if isinstance(e, Retrying)] == [PRO]
    assert isinstance(events[-1], Finished) and events[-1].model == PRO
    assert {r.model for r in routed(events)} == {PRO}


@pytest.mark.parametrize("fault", ["bare_429", "overloaded"])
async def test_forced_pro_still_retries_transient_failures(emulator, engine_factory, client, fault):
    engine = engine_factory()
    emulator.set_fault(fault, count=2, model=PRO)
    events = await collect(send(ask("hello", "pro"), engine=engine, client=client, project=PROJECT))
    assert sum(isinstance(e, Retrying) for e in events) == 2
    assert isinstance(events[-1], Finished) and events[-1].model == PRO


async def test_forced_timeout_is_retried_on_the_same_model(emulator, engine_factory, shared_clock):
    engine = engine_factory()
    impatient = make_client("key-a", emulator.base_url, timeout_s=0.3)
    emulator.set_fault("slow_first_byte", count=1, seconds=1.0, model=PRO)
    events = await collect(send(ask("hello", "pro"), engine=engine, client=impatient, project=PROJECT))
    assert sum(isinstance(e, Retrying) for e in events) == 1
    assert isinstance(events[-1], Finished) and events[-1].model == PRO
    await server_books_the_slow_request(emulator, accepted=2)
    assert server(emulator, PRO)["accepted"] == 2, "the timed-out attempt was counted too"


@pytest.mark.parametrize("threshold,expected", [(20.0, PRO), (10.0, FLASH)])
async def test_the_threshold_uses_the_delay_the_server_gave(
    emulator, engine_factory, client, emulator_clock, shared_clock, threshold, expected
):
    emulator_clock.set(EMULATOR_T0 + 45)  # the server's minute ends in 15 s: it says "retry in 15s"
    engine = engine_factory()
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)
    events = await collect(send(ask("hello", threshold_s=threshold), engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Finished) and events[-1].model == expected
    waits = [e for e in events if isinstance(e, Waiting)]
    if expected == PRO:
        (wait,) = waits
        assert wait.model == PRO and wait.until == pytest.approx(EMULATOR_T0 + 60, abs=1.5)
    else:
        assert not waits
    assert server(emulator, PRO)["rejected_429"] == 1


async def test_policy_wait_waits_for_pro_after_a_503(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("overloaded", count=1, model=PRO)
    events = await collect(send(ask("hello", policy="wait"), engine=engine, client=client, project=PROJECT))
    assert any(isinstance(e, Waiting) and e.model == PRO for e in events)
    assert isinstance(events[-1], Finished) and events[-1].model == PRO


async def test_policy_ask_asks_after_a_ghost_429(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)
    events = await collect(send(ask("hello", policy="ask"), engine=engine, client=client, project=PROJECT))
    question = events[-1]
    assert isinstance(question, AskUser) and question.preferred == PRO and question.alternative == FLASH
    assert server(emulator, FLASH)["accepted"] == 0


async def test_every_model_failing_ends_in_the_failure_not_a_refusal(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("internal", count=100)
    events = await collect(send(ask("hello"), engine=engine, client=client, project=PROJECT))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.failure.kind == "server" and not failed.refused_before_sending
    assert len({r.model for r in routed(events)}) == 3, "each model of the chain was tried"


# ---- stop the burst -------------------------------------------------------------------------------------


async def test_one_surprise_costs_one_429_for_requests_already_admitted(emulator, engine_factory, client):
    engine = engine_factory()
    requests = [ask(f"burst {n}") for n in range(4)]
    # A batch dispatcher admitted four requests for Pro (reserved) before any of them was sent...
    decisions = [decide(engine, PROJECT, "auto", lambda m, r=r: estimate_cost(r.turns, r.system, m)) for r in requests]
    assert [d.kind for d in decisions] == ["go"] * 4 and {d.model for d in decisions} == {PRO}
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)  # ...then another client filled Pro's minute.
    answers = []
    for request, decision in zip(requests, decisions, strict=True):
        events = await collect(send(request, engine=engine, client=client, project=PROJECT, first_decision=decision))
        assert isinstance(events[-1], Finished)
        answers.append(events[-1].model)
    assert answers == [FLASH] * 4
    assert server(emulator, PRO)["rejected_429"] == 1, "the first surprise held the others back"
    assert server(emulator, PRO)["accepted"] == 0 and server(emulator, FLASH)["accepted"] == 4
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpm"].used == 0, "their Pro reservations were released"


async def test_forced_requests_admitted_before_a_surprise_wait_instead_of_colliding(emulator, engine_factory, client):
    engine = engine_factory()
    requests = [ask(f"burst {n}", "pro") for n in range(2)]
    decisions = [decide(engine, PROJECT, "pro", lambda m, r=r: estimate_cost(r.turns, r.system, m)) for r in requests]
    emulator.add_invisible_usage(PROJECT, PRO, requests=5)
    first = send(requests[0], engine=engine, client=client, project=PROJECT, first_decision=decisions[0])
    async for event in first:  # the first one meets the surprise...
        if isinstance(event, Retrying):
            break
    # ...the other, admitted before it, is held back until the server's delay ends instead of colliding.
    events = await collect(
        send(requests[1], engine=engine, client=client, project=PROJECT, first_decision=decisions[1])
    )
    assert isinstance(events[0], Waiting) and events[0].model == PRO
    assert isinstance(events[-1], Finished) and events[-1].model == PRO
    rest = await collect(first)
    assert isinstance(rest[-1], Finished)
    assert server(emulator, PRO)["rejected_429"] == 1


# ---- gemtui ask ----------------------------------------------------------------------------------------


def test_ask_auto_answers_with_flash_after_a_per_day_429(emulator, monkeypatch, capsys):
    emulator.set_limits(PRO, "free", rpd=2)
    emulator.add_invisible_usage("proj-other", PRO, requests=2)
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    code = main(["ask", "hello [[tokens=20]]", "--model", "auto", "--endpoint", emulator.base_url])
    out, err = capsys.readouterr()
    assert code == exitcodes.EXIT_OK, err
    assert out.strip() and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and FLASH in err and "daily quota" in err
    assert server(emulator, PRO, "proj-other")["rejected_429"] == 1
    assert server(emulator, FLASH, "proj-other")["accepted"] == 1
