"""The response cache in the turn runner, over real HTTP to the emulator (real SDK, one simulated clock):
a hit sends nothing and reserves nothing, and is marked cached wherever the answer goes."""

from __future__ import annotations

import json

import pytest

from gemtui.chat.conversation import ChatSession
from gemtui.chat.queue import RequestQueue
from gemtui.chat.response_cache import CachedAnswer, CachedFinished, CacheUse, ResponseCache
from gemtui.chat.sessions import SessionStore
from gemtui.chat.turn_runner import (
    Delta,
    Failed,
    Finished,
    Outgoing,
    Routed,
    Routing,
    TurnConsumer,
    TurnRunner,
    Waiting,
    Wire,
)
from gemtui.cli import main
from gemtui.config import Config
from tests.fixtures_e2e import PROJECT, ask, server

PRO = "gemini-2.5-pro"
FLASH = "gemini-2.5-flash"


class Recorder(TurnConsumer):
    def __init__(self, take_offer: bool = False) -> None:
        self.events: list[object] = []
        self.offers: list[tuple[CachedAnswer, Waiting]] = []
        self.take_offer = take_offer

    async def show(self, event: object) -> None:
        self.events.append(event)

    async def offer_cached(self, hit: CachedAnswer, waiting: Waiting) -> bool:
        self.offers.append((hit, waiting))
        return self.take_offer

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def cache_file(tmp_path, shared_clock):
    path = tmp_path / "responses.sqlite3"
    opened: list[ResponseCache] = []

    def use(enabled: bool = True, offer: bool = True) -> CacheUse:
        def opener() -> ResponseCache:
            cache = ResponseCache(path, clock=shared_clock.now)
            opened.append(cache)
            return cache

        return CacheUse(opener, enabled=enabled, offer=offer, path=path)

    yield use
    for cache in opened:
        cache.close()


@pytest.fixture
def stores(tmp_path):
    store = SessionStore(tmp_path / "sessions.sqlite3")
    queue = RequestQueue(tmp_path / "queue.sqlite3")
    yield store, queue
    store.close()
    queue.close()


def used_rpm(engine, model: str = PRO) -> int:
    return engine.gauges(PROJECT, [model])[model]["rpm"].used


async def one_off(
    engine,
    client,
    cache: CacheUse | None,
    text: str,
    preference: str = "auto",
    consumer: Recorder | None = None,
    **kwargs,
) -> Recorder:
    consumer = consumer or Recorder()
    request = ask(text, preference, **kwargs)
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), cache=cache)
    await runner.run(Outgoing(text, Routing(preference), request=request), consumer)
    return consumer


async def test_a_repeated_question_is_answered_from_the_cache_and_sends_nothing(
    emulator, engine_factory, client, cache_file
):
    engine = engine_factory()
    cache = cache_file()
    first = await one_off(engine, client, cache, "what is a cache?")
    fresh = first.of(Finished)[0]
    assert not isinstance(fresh, CachedFinished) and cache.stored == 1
    assert server(emulator, PRO)["accepted"] == 1 and used_rpm(engine) == 1

    again = await one_off(engine, client, cache, "what is a cache?")
    (hit,) = again.of(Finished)
    assert isinstance(hit, CachedFinished) and hit.cached
    assert hit.text == fresh.text and hit.model == fresh.model
    assert (hit.usage.input_tokens, hit.usage.output_tokens) == (fresh.usage.input_tokens, fresh.usage.output_tokens)
    assert "".join(d.text for d in again.of(Delta)) == fresh.text, "consumers see the text as if streamed"
    assert [type(e) for e in again.events][-3:] == [Routed, Delta, CachedFinished]
    assert server(emulator, PRO)["accepted"] == 1, "nothing was sent"
    assert used_rpm(engine) == 1, "nothing was reserved"


async def test_the_cache_keys_model_system_and_settings(emulator, engine_factory, client, cache_file):
    engine = engine_factory()
    cache = cache_file()
    await one_off(engine, client, cache, "same words", "pro")
    await one_off(engine, client, cache, "same words", "flash")  # another model: asked afresh
    await one_off(engine, client, cache, "same words", "pro", system="answer in French")
    await one_off(engine, client, cache, "same words", "pro", max_output_tokens=50)
    assert server(emulator, PRO)["accepted"] == 3 and server(emulator, FLASH)["accepted"] == 1
    auto = await one_off(engine, client, cache, "same words", "auto")
    (hit,) = auto.of(Finished)
    assert isinstance(hit, CachedFinished) and hit.model == PRO, "auto takes the answer of the preferred model"
    assert server(emulator, PRO)["accepted"] == 3


async def test_an_answer_cut_short_is_not_kept(emulator, engine_factory, client, cache_file):
    engine = engine_factory()
    cache = cache_file()
    emulator.set_fault("cut_stream", count=1, after_chunks=1, model=PRO)
    cut = await one_off(engine, client, cache, "long answer [[tokens=60]]", "pro")
    assert cut.of(Failed) and cache.stored == 0
    again = await one_off(engine, client, cache, "long answer [[tokens=60]]", "pro")
    assert not isinstance(again.of(Finished)[0], CachedFinished)
    assert cache.stored == 1


async def test_a_disabled_cache_neither_serves_nor_keeps(emulator, engine_factory, client, cache_file, tmp_path):
    engine = engine_factory()
    off = cache_file(enabled=False)
    for _ in range(2):
        events = await one_off(engine, client, off, "no cache please")
        assert not isinstance(events.of(Finished)[0], CachedFinished)
    assert server(emulator, PRO)["accepted"] == 2
    assert not (tmp_path / "responses.sqlite3").exists()


async def test_a_hit_in_a_conversation_is_stored_and_exported_as_cached(
    emulator, engine_factory, client, cache_file, stores
):
    store, queue = stores
    engine = engine_factory()
    cache = cache_file()
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue, cache=cache)
    sessions = []
    for title in ("first", "second"):  # two conversations opening with the same question
        conv = store.create(title=title)
        session = ChatSession(store, conv, engine=engine, project=PROJECT, config=Config({}))
        item = queue.add(conv.id, "opening question [[tokens=12]]")
        await runner.run(Outgoing(item.prompt, Routing("auto"), item=item, session=session), Recorder())
        sessions.append((session, item))
    assert server(emulator, PRO)["accepted"] == 1
    first, second = (store.messages(s.conversation.id) for s, _ in sessions)
    assert [m.cached for m in first] == [False, False]
    assert [(m.role, m.status, m.cached) for m in second] == [("user", "complete", False), ("model", "complete", True)]
    assert second[1].text == first[1].text
    assert queue.get(sessions[1][1].id).state == "done"
    export = store.export_markdown(sessions[1][0].conversation.id)
    assert "cached: answered from the response cache" in export and " · cached · " in export
    assert "cached" not in store.export_markdown(sessions[0][0].conversation.id)


async def test_a_long_wait_offers_a_kept_answer(emulator, engine_factory, client, cache_file, shared_clock):
    engine = engine_factory()
    await one_off(engine, client, cache_file(), "the repeated one", "pro", policy="wait")
    for n in range(4):  # Pro's 5 requests a minute are used up
        await one_off(engine, client, None, f"other {n}", "pro", policy="wait")
    off = cache_file(enabled=False)  # the cache is off now, but holds the answer

    taken = await one_off(
        engine, client, off, "the repeated one", "pro", consumer=Recorder(take_offer=True), policy="wait"
    )
    ((hit, waiting),) = taken.offers
    assert hit.model == PRO and waiting.until - shared_clock.now() > 20
    assert isinstance(taken.events[-1], CachedFinished)
    assert server(emulator, PRO)["accepted"] == 5, "the offer was taken: nothing sent, no wait"

    declined = await one_off(engine, client, off, "the repeated one", "pro", consumer=Recorder(), policy="wait")
    assert len(declined.offers) == 1 and not isinstance(declined.events[-1], CachedFinished)
    assert server(emulator, PRO)["accepted"] == 6, "declined: it waited and was sent"

    refused = cache_file(enabled=False, offer=False)  # --no-cache: never offered
    events = await one_off(engine, client, refused, "the repeated one", "pro", consumer=Recorder(True), policy="wait")
    assert not events.offers and not isinstance(events.events[-1], CachedFinished)


# ---- the command line -----------------------------------------------------------------------------


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")


def test_a_batch_uses_the_cache_by_default_and_marks_its_lines(emulator, key, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    questions = [
        "alpha [[tokens=8]]",
        "beta [[tokens=8]]",
        "alpha [[tokens=8]]",
        "alpha [[tokens=8]]",
        "beta [[tokens=8]]",
    ]
    prompts.write_text("\n".join(questions))
    out = tmp_path / "out.jsonl"
    code = main(
        ["ask", "--endpoint", emulator.base_url, "--model", "flash", "--batch", str(prompts), "--out", str(out)]
    )
    err = capsys.readouterr().err
    lines = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda line: line["index"])
    assert code == 0 and [line["cached"] for line in lines] == [False, False, True, True, True]
    assert lines[2]["text"] == lines[0]["text"] and lines[4]["text"] == lines[1]["text"]
    assert "3 answered from the response cache" in err
    sent = sum(project.get(FLASH, {}).get("accepted", 0) for project in emulator.counters().values())
    assert sent == 2, "only the two distinct prompts were sent"

    assert main(["cache", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["entries"], stats["hits"], stats["enabled_for_chat"]) == (2, 3, False)
    assert stats["tokens_saved"] == sum(line["input_tokens"] + line["output_tokens"] for line in lines[2:])
    assert main(["cache", "clear"]) == 0
    assert "2 answers forgotten" in capsys.readouterr().err
    assert main(["cache", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_a_batch_with_no_cache_sends_every_prompt(emulator, key, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("same [[tokens=8]]\nsame [[tokens=8]]\n")
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "ask",
                "--endpoint",
                emulator.base_url,
                "--model",
                "flash",
                "--batch",
                str(prompts),
                "--out",
                str(out),
                "--no-cache",
            ]
        )
        == 0
    )
    assert not any(json.loads(line)["cached"] for line in out.read_text().splitlines())
    sent = sum(project.get(FLASH, {}).get("accepted", 0) for project in emulator.counters().values())
    assert sent == 2


def test_ask_with_cache_answers_the_second_time_from_it(emulator, key, capsys):
    base = ["ask", "--endpoint", emulator.base_url, "--model", "flash"]
    assert main([*base, "--cache", "a question [[tokens=8]]"]) == 0
    first = capsys.readouterr()
    assert main([*base, "--cache", "a question [[tokens=8]]"]) == 0
    second = capsys.readouterr()
    assert second.out == first.out and "cached: answered from the response cache" in second.err
    assert "cached" not in first.err
    assert main([*base, "a question [[tokens=8]]"]) == 0, "chat default: off"
    third = capsys.readouterr()
    assert "cached" not in third.err
    sent = sum(project.get(FLASH, {}).get("accepted", 0) for project in emulator.counters().values())
    assert sent == 2


def test_a_batch_remembers_cache_flags_for_queue_resume():
    import argparse

    from gemtui.commands._batch import recorded_options

    def options(**flags):
        return recorded_options(argparse.Namespace(model="flash", **flags))

    assert options(cache=False)["cache"] == "off" and options(cache=True)["cache"] == "on"
    assert "cache" not in options(cache=None) and "cache" not in options(), "no flag: the default decides again"


async def test_a_retry_asks_afresh_even_when_the_answer_is_kept(emulator, engine_factory, client, cache_file, stores):
    store, _queue = stores
    engine = engine_factory()
    cache = cache_file()
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), cache=cache)
    conv = store.create(title="retry")
    session = ChatSession(store, conv, engine=engine, project=PROJECT, config=Config({}))
    await runner.run(Outgoing("a question [[tokens=12]]", Routing("auto"), session=session), Recorder())
    user = store.messages(conv.id)[0]
    again = Recorder()
    await runner.run(Outgoing(user.text, Routing("auto"), session=session, retry_of=user.id), again)
    assert not isinstance(again.of(Finished)[0], CachedFinished)
    assert server(emulator, PRO)["accepted"] == 2, "/retry means a new answer"
    assert not any(m.cached for m in store.messages(conv.id))


async def test_a_route_reserved_before_the_cache_was_asked_is_given_back(emulator, engine_factory, client, cache_file):
    from gemtui.chat.router import decide
    from gemtui.chat.sender import request_costs

    engine = engine_factory()
    cache = cache_file()
    await one_off(engine, client, cache, "kept already")
    request = ask("kept already")
    decision = decide(engine, PROJECT, "auto", request_costs(request))
    assert decision.kind == "go" and used_rpm(engine) == 2, "the dispatcher's reservation counts"
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), cache=cache)
    shown = Recorder()
    await runner.run(Outgoing("kept already", Routing("auto"), request=request, first_decision=decision), shown)
    assert isinstance(shown.events[-1], CachedFinished)
    assert used_rpm(engine) == 1 and server(emulator, PRO)["accepted"] == 1, "released: nothing was sent"


def test_an_answer_kept_from_one_server_is_never_served_for_another(emulator, key, capsys):
    """The key named the model but not the server: the demo emulator's answer was served for a real
    endpoint's question, and an OpenAI-compatible server's for another's."""
    question = "which server am I talking to? [[tokens=8]]"
    assert main(["ask", "--demo", "--model", "flash", "--cache", question]) == 0
    capsys.readouterr()
    base = ["ask", "--endpoint", emulator.base_url, "--model", "flash", "--cache", question]
    assert main(base) == 0
    assert "cached" not in capsys.readouterr().err, "another server: asked, not served from the cache"
    assert main(base) == 0
    assert "cached: answered from the response cache" in capsys.readouterr().err  # the same server: served
    sent = sum(project.get(FLASH, {}).get("accepted", 0) for project in emulator.counters().values())
    assert sent == 1
