"""The engine, router and sender end to end: real SDK, real HTTP, the emulator enforcing real quotas.

Every test shares one simulated clock between gemtui and the emulator, so waits of a minute or a
day cost nothing; the emulator's own counters are the referee.
"""

from __future__ import annotations

import pytest

from gemtui.chat.sender import Failed, Finished, Request, Retrying, Routed, Target, Waiting, send
from gemtui.gemini.client import make_client
from gemtui.quota.limits import LimitTable
from gemtui.quota.pacific import next_midnight_ms
from gemtui.turns import Turn
from tests.fixtures_e2e import PROJECT, ask, collect, server

PRO, FLASH = "gemini-2.5-pro", "gemini-2.5-flash"


async def test_forced_pro_waits_out_the_minute_instead_of_a_429(emulator, engine_factory, client, shared_clock):
    engine = engine_factory()
    started = shared_clock.now()
    for n in range(6):
        events = await collect(send(ask(f"q{n}", "pro"), engine=engine, client=client, project=PROJECT))
        assert isinstance(events[-1], Finished), events[-1]
        assert {e.model for e in events if isinstance(e, Routed)} == {PRO}, "a forced model never switches"
        waits = [e for e in events if isinstance(e, Waiting)]
        assert bool(waits) == (n == 5)
    (wait,) = waits
    assert wait.dimension == "rpm" and "RPM" in wait.reason
    assert wait.until == pytest.approx(started + 60, abs=1.0)
    stats = server(emulator, PRO)
    assert stats["accepted"] == 6 and stats["rejected_429"] == 0


async def test_auto_switches_to_flash_then_returns_to_pro(emulator, engine_factory, client, shared_clock):
    engine = engine_factory()
    routed = []
    for n in range(6):
        events = await collect(send(ask(f"q{n}", threshold_s=20), engine=engine, client=client, project=PROJECT))
        assert isinstance(events[-1], Finished)
        routed.append(next(e for e in events if isinstance(e, Routed)))
    assert [r.model for r in routed] == [PRO] * 5 + [FLASH]
    assert routed[-1].switched and "RPM" in routed[-1].note and FLASH in routed[-1].note
    assert events[-1].switched_from == PRO
    await shared_clock.sleep(61)
    events = await collect(send(ask("back"), engine=engine, client=client, project=PROJECT))
    assert next(e for e in events if isinstance(e, Routed)).model == PRO, "auto mode is never sticky"
    assert server(emulator, PRO)["rejected_429"] == 0 and server(emulator, FLASH)["rejected_429"] == 0


async def test_auto_waits_for_pro_when_it_frees_within_the_threshold(emulator, engine_factory, client, shared_clock):
    engine = engine_factory()
    for n in range(5):
        await collect(send(ask(f"q{n}"), engine=engine, client=client, project=PROJECT))
    await shared_clock.sleep(45)  # Pro frees in ~15 s: below a 20 s threshold
    events = await collect(send(ask("patient", threshold_s=20), engine=engine, client=client, project=PROJECT))
    assert any(isinstance(e, Waiting) and e.model == PRO for e in events)
    assert next(e for e in events if isinstance(e, Routed)).model == PRO


async def test_invisible_usage_costs_one_429_and_is_learned(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.add_invisible_usage(PROJECT, PRO, requests=4)  # another program on the same project
    first = await collect(send(ask("one", "pro"), engine=engine, client=client, project=PROJECT))
    assert isinstance(first[-1], Finished)
    second = await collect(send(ask("two", "pro"), engine=engine, client=client, project=PROJECT))
    retries = [e for e in second if isinstance(e, Retrying)]
    assert len(retries) == 1 and isinstance(second[-1], Finished)
    assert server(emulator, PRO)["rejected_429"] == 1
    gauge = engine.gauges(PROJECT, [PRO])[PRO]["rpm"]
    assert gauge.invisible > 0, "the gauge shows usage from other clients"
    # Having learned, the engine waits rather than collecting another 429.
    third = await collect(send(ask("three", "pro"), engine=engine, client=client, project=PROJECT))
    assert isinstance(third[-1], Finished)
    assert server(emulator, PRO)["rejected_429"] == 1


async def test_per_day_limit_blocks_the_model_until_pacific_midnight_across_restarts(
    emulator, engine_factory, client, shared_clock
):
    emulator.set_limits(PRO, "free", rpd=2)  # the server's real limit is lower than the table's 100
    engine = engine_factory()
    for n in range(2):
        assert isinstance(
            (await collect(send(ask(f"q{n}", "pro"), engine=engine, client=client, project=PROJECT)))[-1], Finished
        )
    await shared_clock.sleep(61)
    events = await collect(send(ask("third", "pro"), engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == "rate_limited"
    assert server(emulator, PRO)["rejected_429"] == 1

    restarted = engine_factory()  # a new process on the same ledger
    gauge = restarted.gauges(PROJECT, [PRO])[PRO]["rpd"]
    assert gauge.limit == 2 and gauge.source == "learned"
    assert gauge.blocked_until == pytest.approx(next_midnight_ms(round(shared_clock.now() * 1000)) / 1000, abs=1)
    refused = await collect(send(ask("forced", "pro"), engine=restarted, client=client, project=PROJECT))
    assert isinstance(refused[-1], Failed) and refused[-1].refused_before_sending
    assert "gemini-2.5-pro" in refused[-1].failure.message
    auto = await collect(send(ask("auto"), engine=restarted, client=client, project=PROJECT))
    assert next(e for e in auto if isinstance(e, Routed)).model == FLASH
    assert server(emulator, PRO)["rejected_429"] == 1, "nothing more was sent to a model blocked for the day"

    await shared_clock.sleep(next_midnight_ms(round(shared_clock.now() * 1000)) / 1000 - shared_clock.now() + 1)
    after = await collect(send(ask("new day", "pro"), engine=restarted, client=client, project=PROJECT))
    assert isinstance(after[-1], Finished)


async def test_bare_429_backs_off_without_touching_quota(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("bare_429", count=1)
    events = await collect(send(ask("x", "pro"), engine=engine, client=client, project=PROJECT))
    assert [type(e).__name__ for e in events if isinstance(e, Retrying)] == ["Retrying"]
    assert isinstance(events[-1], Finished)
    gauge = engine.gauges(PROJECT, [PRO])[PRO]["rpm"]
    assert gauge.limit == 5 and gauge.source == "table" and gauge.invisible == 0
    assert gauge.used == 2, "the bare 429'd attempt stays booked: nothing proves the server did not count it"


async def test_overload_is_retried_with_backoff(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("overloaded", count=2)
    events = await collect(send(ask("x", "pro"), engine=engine, client=client, project=PROJECT))
    assert sum(isinstance(e, Retrying) for e in events) == 2 and isinstance(events[-1], Finished)
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpm"].used == 3, "a 5xx'd attempt left: it stays booked"


@pytest.mark.parametrize("key,model,kind", [("not-a-key", "pro", "auth"), ("key-a", "gemini-9-ultra", "not_found")])
async def test_hopeless_requests_fail_at_once(emulator, engine_factory, key, model, kind):
    engine = engine_factory()
    events = await collect(
        send(ask("x", model), engine=engine, client=make_client(key, emulator.base_url), project=PROJECT)
    )
    assert not any(isinstance(e, Retrying) for e in events)
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == kind
    assert "not-a-key" not in events[-1].failure.message
    gauges = engine.gauges(PROJECT, [model if model != "pro" else PRO])
    assert next(iter(gauges.values()))["rpm"].used == 0, "a refused request is released"


async def test_cut_stream_keeps_the_partial_answer_and_books_the_request(emulator, engine_factory, client):
    engine = engine_factory()
    emulator.set_fault("cut_stream", count=1, after_chunks=2)
    request = Request(turns=[Turn("user", "long [[tokens=300]]")], preference="pro")
    events = await collect(send(request, engine=engine, client=client, project=PROJECT))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.failure.kind == "stream_cut" and failed.partial
    assert engine.gauges(PROJECT, [PRO])[PRO]["rpm"].used == server(emulator, PRO)["accepted"] == 1


async def test_a_prompt_above_tpm_is_refused_before_sending(emulator, engine_factory, client):
    emulator.set_limits(PRO, "free", tpm=2000)
    engine = engine_factory(table=LimitTable(overrides={PRO: {"tpm": 2000}}))  # as the user's config says
    events = await collect(send(ask("word " * 3000, "pro"), engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Failed) and events[-1].refused_before_sending
    assert "TPM" in events[-1].failure.message
    assert server(emulator, PRO) == {} or server(emulator, PRO)["accepted"] == 0


async def test_engine_books_what_the_server_counted(emulator, engine_factory, client):
    engine = engine_factory()
    for n in range(4):
        await collect(
            send(
                ask(f"prompt number {n} " + "lorem ipsum " * (50 * n), "flash"),
                engine=engine,
                client=client,
                project=PROJECT,
            )
        )
    ours = engine.gauges(PROJECT, [FLASH])[FLASH]
    theirs = server(emulator, FLASH)
    assert ours["rpm"].used == theirs["rpm"] == 4
    assert ours["tpm"].used == theirs["tpm"] == theirs["input_tokens_total"], "reconciled with usageMetadata"
    assert ours["rpd"].used == theirs["rpd"]


async def test_backup_profile_takes_over_only_when_the_primary_cannot_admit(emulator, engine_factory, client):
    engine = engine_factory()
    backup_engine = engine_factory(tier="free")
    backup = Target(backup_engine, make_client("key-c", emulator.base_url), "proj-other", "paid-backup")
    routes = []
    for n in range(6):
        events = await collect(
            send(ask(f"q{n}", "pro", threshold_s=20), engine=engine, client=client, project=PROJECT, backup=backup)
        )
        assert isinstance(events[-1], Finished)
        routes.append(next(e for e in events if isinstance(e, Routed)))
    assert [r.via for r in routes] == [""] * 5 + ["paid-backup"]
    assert "backup profile paid-backup" in routes[-1].note
    assert server(emulator, PRO, "proj-other")["accepted"] == 1
    assert server(emulator, PRO)["rejected_429"] == 0


async def test_image_model_on_the_free_tier_is_refused_before_sending(emulator, engine_factory, client):
    engine = engine_factory()
    events = await collect(send(ask("a cat", "gemini-2.5-flash-image"), engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Failed) and events[-1].refused_before_sending
    assert "IPM" in events[-1].failure.message
    assert (
        server(emulator, "gemini-2.5-flash-image") == {} or server(emulator, "gemini-2.5-flash-image")["accepted"] == 0
    )


async def test_image_model_on_tier1_books_images(emulator, engine_factory, client):
    emulator.set_tier(PROJECT, "tier1")
    engine = engine_factory(tier="tier1")
    events = await collect(send(ask("a cat", "gemini-2.5-flash-image"), engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Finished) and events[-1].images
    assert events[-1].images[0][1].startswith(b"\x89PNG")
    gauge = engine.gauges(PROJECT, ["gemini-2.5-flash-image"])["gemini-2.5-flash-image"]["ipm"]
    assert gauge.used == 1 == server(emulator, "gemini-2.5-flash-image")["ipm"] and gauge.limit == 10


async def test_an_estimate_just_above_tpm_is_checked_with_count_tokens(emulator, engine_factory, client):
    emulator.set_limits(PRO, "free", tpm=2000)
    engine = engine_factory(table=LimitTable(overrides={PRO: {"tpm": 2000}}))
    prompt = "tell " + "me more about that " * 420  # the server counts a little under 2,000
    from gemtui.chat.sender import estimate_cost

    assert estimate_cost([Turn("user", prompt)], None, PRO).input_tokens > 2000, "the estimate alone refuses"
    events = await collect(
        send(
            Request(turns=[Turn("user", prompt + "[[tokens=5]]")], preference="pro"),
            engine=engine,
            client=client,
            project=PROJECT,
        )
    )
    assert isinstance(events[-1], Finished), events[-1]
    assert 1500 < events[-1].usage.input_tokens <= 2000
    assert server(emulator, PRO)["rejected_429"] == 0


async def test_thinking_tokens_are_reported_but_never_booked_as_input_tpm(emulator, engine_factory, client):
    """TPM counts input tokens: a thinking model's thoughts (output) are shown, not booked against it."""
    from gemtui.chat.sender import Finished, send
    from gemtui.generation import GenerationSettings
    from tests.fixtures_e2e import PROJECT, ask, collect

    engine = engine_factory()
    request = ask("think about it", "pro", generation=GenerationSettings(thinking_budget=200, temperature=0.1))
    events = await collect(send(request, engine=engine, client=client, project=PROJECT))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.usage.thought_tokens > 0
    tpm = engine.gauges(PROJECT, [finished.model])[finished.model]["tpm"]
    assert tpm.used == finished.usage.input_tokens  # the prompt only, thoughts left out
    sent = emulator.generation_log()[-1]
    assert (sent["thinkingBudget"], sent["temperature"]) == (200, 0.1)
