"""The OpenAI-compatible link of the route chain, end to end: the real `openai` SDK against the emulator's
OpenAI side, the real genai SDK against its Gemini side, one simulated clock for gemtui and the emulator."""

from __future__ import annotations

import openai
import pytest

from gemtui.chat.router import use_route
from gemtui.chat.sender import Failed, Finished, Retrying, Routed, Waiting, send
from gemtui.gemini.client import make_client
from gemtui.providers.gemini import GeminiProvider
from gemtui.providers.openai_compat import OpenAICompatProvider
from gemtui.providers.switchboard import Switchboard, models_via
from gemtui.quota.headers import HEADER_SOURCE
from tests.fixtures_e2e import PROJECT, ask, collect, server

LINK = "ds:deepseek-chat"
GEMINI = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")


@pytest.fixture
async def board(emulator):
    """Gemini as the primary, the emulator's OpenAI side lent to the chain as profile "ds"."""
    linked = OpenAICompatProvider("key-a", emulator.openai_base_url, label="ds")
    switchboard = Switchboard(GeminiProvider(make_client("key-a", emulator.base_url)), {"ds": lambda: linked})
    use_route(["pro", "flash", "lite", LINK])
    yield switchboard
    await linked.aclose()


async def test_the_link_streams_through_the_openai_sdk_and_the_badge_names_provider_and_model(
    emulator, engine_factory, board
):
    engine = engine_factory()
    events = await collect(send(ask("hello", preference=LINK), engine=engine, client=board, project=PROJECT))
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert finished.model == LINK and finished.text
    assert finished.usage is not None and finished.usage.input_tokens and finished.usage.output_tokens
    assert len([e for e in events if type(e).__name__ == "Delta"]) > 1, "streamed in pieces"
    assert emulator.openai_counters()["served"] == 1


async def test_a_batch_never_meets_a_429_once_headers_have_spoken(emulator, engine_factory, board, shared_clock):
    emulator.set_openai_limits(requests=3, window_s=60)
    engine = engine_factory()
    started = shared_clock.now()
    for i in range(10):
        events = await collect(
            send(ask(f"question {i}", preference=LINK), engine=engine, client=board, project=PROJECT)
        )
        assert isinstance(events[-1], Finished), events[-1]
    assert emulator.openai_counters()["refused_429"] == 0
    assert emulator.openai_counters()["served"] == 10
    limits = engine.limits(PROJECT, LINK)
    assert limits.rpm == 3 and limits.source["rpm"] == HEADER_SOURCE
    assert shared_clock.now() - started >= 3 * 60 - 1, "ten requests at three a minute take three windows"


async def test_retry_after_on_a_429_is_honoured(emulator, engine_factory, board, shared_clock):
    emulator.set_openai_limits(requests=2, window_s=30)
    async with openai.AsyncOpenAI(api_key="key-a", base_url=emulator.openai_base_url, max_retries=0) as other:
        for _ in range(2):  # another client spends the key's window: gemtui cannot know
            await other.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "x"}])
    engine = engine_factory()
    started = shared_clock.now()
    events = await collect(send(ask("hello", preference=LINK), engine=engine, client=board, project=PROJECT))
    retrying = [e for e in events if isinstance(e, Retrying | Waiting)]
    assert retrying and retrying[0].until >= started + 30 - 0.5, "waited the server's Retry-After"
    assert isinstance(events[-1], Finished)
    assert emulator.openai_counters()["refused_429"] == 1, "one surprise, never a second 429"
    assert shared_clock.now() >= started + 30 - 0.5


async def test_failover_from_exhausted_gemini_to_the_openai_link_and_back_when_gemini_frees(
    emulator, engine_factory, board, shared_clock
):
    for model in GEMINI:  # another client spent every Gemini model's day
        emulator.set_limits(model, "free", rpd=1)
        emulator.add_invisible_usage(PROJECT, model, requests=1)
    engine = engine_factory()
    events = await collect(send(ask("hello"), engine=engine, client=board, project=PROJECT))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.model == LINK, finished
    assert [e.model for e in events if isinstance(e, Routed)] == [*GEMINI, LINK]
    again = await collect(send(ask("again"), engine=engine, client=board, project=PROJECT))
    assert [e.model for e in again if isinstance(e, Routed)] == [LINK], "Gemini is not asked while blocked"
    for model in GEMINI:
        assert server(emulator, model)["rejected_429"] == 1
    shared_clock.manual.advance(15 * 3600)  # past Pacific midnight: Gemini's day starts again
    back = await collect(send(ask("tomorrow"), engine=engine, client=board, project=PROJECT))
    assert isinstance(back[-1], Finished) and back[-1].model == GEMINI[0]


async def test_an_unknown_model_on_the_link_is_one_typed_failure(emulator, engine_factory, board):
    engine = engine_factory()
    events = await collect(
        send(ask("hello", preference="ds:no-such-model"), engine=engine, client=board, project=PROJECT)
    )
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == "not_found"


async def test_a_links_models_are_listed_with_its_prefix_and_the_primarys_as_they_are(emulator, board):
    linked = await models_via(board, "ds:anything")  # only the server that would answer is asked
    assert LINK in linked and "ds:emu-chat-mini" in linked and "gemini-2.5-pro" not in linked
    primary = await models_via(board, "gemini-2.5-pro")
    assert "gemini-2.5-pro" in primary and not any(m.startswith("ds:") for m in primary)


async def test_when_no_link_can_answer_the_wait_names_the_link_that_frees_first(
    emulator, engine_factory, board, shared_clock
):
    for model in GEMINI:  # Gemini is out for the day
        emulator.set_limits(model, "free", rpd=1)
        emulator.add_invisible_usage(PROJECT, model, requests=1)
    emulator.set_openai_limits(requests=1, window_s=120)
    engine = engine_factory()
    first = await collect(send(ask("one"), engine=engine, client=board, project=PROJECT))
    assert isinstance(first[-1], Finished) and first[-1].model == LINK
    started = shared_clock.now()
    events = await collect(send(ask("two"), engine=engine, client=board, project=PROJECT))
    waits = [e for e in events if isinstance(e, Waiting)]
    assert waits and waits[0].model == LINK, "the earliest to free is the link, not Pacific midnight"
    assert started + 100 <= waits[0].until <= started + 121
    assert isinstance(events[-1], Finished) and events[-1].model == LINK
    assert emulator.openai_counters()["refused_429"] == 0


async def test_the_demo_chain_fails_over_to_the_emulators_openai_side():
    import argparse

    from gemtui.commands._runtime import open_runtime
    from gemtui.config import load_config

    opened = open_runtime(argparse.Namespace(demo=True), load_config(), resolve_models=False)
    try:
        runtime, emulator = opened.runtime, opened.emulator
        for model in GEMINI:  # the demo's Gemini day is spent
            emulator.set_limits(model, "free", rpd=1)
            emulator.add_invisible_usage("demo", model, requests=1)
        target = runtime.target()
        events = await collect(
            send(ask("hello from CI"), engine=target.engine, client=target.client, project=target.project)
        )
        assert isinstance(events[-1], Finished) and events[-1].model == "deepseek:deepseek-chat"
        assert events[-1].text.strip()
        for provider in (target.client.provider("deepseek"),):
            await provider.aclose()
    finally:
        runtime.engine.close()
        opened.close()


async def test_limits_a_profile_sets_apply_where_the_server_states_none(
    emulator, secret_service, shared_clock, tmp_path
):
    from gemtui.auth import add_profile
    from gemtui.auth.resolve import resolve_profile
    from gemtui.config import update_config
    from gemtui.runtime import runtime_for_profile

    emulator.set_openai_limits(requests=None, tokens=None)  # a server that sends no rate-limit headers
    add_profile("work", "key-a", endpoint=emulator.base_url, project=PROJECT, activate=True)
    add_profile(
        "local", "key-a", endpoint=emulator.openai_base_url, api="openai", model="deepseek-chat", rpm=2, activate=False
    )
    config = update_config(lambda data: data.setdefault("routing", {}).update(route=["local:deepseek-chat"]))
    runtime = runtime_for_profile(resolve_profile("work", config=config), config, clock=shared_clock)
    try:
        target = runtime.target()
        limits = target.engine.limits(PROJECT, "local:deepseek-chat")
        assert limits.rpm == 2 and limits.source["rpm"] == "config"
        started = shared_clock.now()
        for i in range(3):
            events = await collect(
                send(ask(f"q{i}"), engine=target.engine, client=target.client, project=target.project)
            )
            assert isinstance(events[-1], Finished) and events[-1].model == "local:deepseek-chat"
        assert shared_clock.now() - started >= 59, "the third waited for the profile's minute"
        await target.client.provider("local").aclose()
    finally:
        runtime.engine.close()


async def test_a_server_that_refuses_stream_options_is_asked_again_without_them(emulator, engine_factory, board):
    emulator.set_openai_limits(usage_in_streams=False)
    engine = engine_factory()
    for text in ("first", "second"):
        events = await collect(send(ask(text, preference=LINK), engine=engine, client=board, project=PROJECT))
        assert isinstance(events[-1], Finished) and events[-1].text and events[-1].usage is None
    assert emulator.openai_counters()["served"] == 2
