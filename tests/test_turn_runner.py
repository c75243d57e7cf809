"""The turn runner over real HTTP to the emulator (real SDK, one simulated clock): what one turn writes
to the session store and the queue, once, whatever way it ends."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from gemtui.chat.conversation import ChatSession
from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.chat.turn_runner import (
    Cancelled,
    Delta,
    Failed,
    Finished,
    NotSent,
    Outgoing,
    Planned,
    Routed,
    Routing,
    TurnConsumer,
    TurnRunner,
    Unsaved,
    Waiting,
    Wire,
)
from gemtui.config import Config
from gemtui.quota.engine import RequestCost
from tests.fixtures_e2e import PROJECT, server

PRO = "gemini-2.5-pro"


class Recorder(TurnConsumer):
    """Keeps every event, and what the stores said at the moment each was shown."""

    def __init__(self, queue: RequestQueue, item_id: int | None = None) -> None:
        self.queue, self.item_id = queue, item_id
        self.events: list[object] = []
        self.state_when_shown: list[str | None] = []

    async def show(self, event: object) -> None:
        self.events.append(event)
        item = self.queue.get(self.item_id) if self.item_id is not None else None
        self.state_when_shown.append(item.state if item else None)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class Counting:
    """Counts the calls of a store method while passing them on (what was written, and how often)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        self.calls: list[tuple] = []
        original = getattr(owner, name)

        def counted(this, *args, **kwargs):
            self.calls.append(args)
            return original(this, *args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


@pytest.fixture
def stores(tmp_path):
    store = SessionStore(tmp_path / "sessions.sqlite3")
    queue = RequestQueue(tmp_path / "queue.sqlite3")
    yield store, queue
    store.close()
    queue.close()


def conversation(store: SessionStore, engine) -> ChatSession:
    conv = store.create(title="runner")
    return ChatSession(store, conv, engine=engine, project=PROJECT, config=Config({}))


def queued(queue: RequestQueue, session: ChatSession, prompt: str, preference: str = "auto"):
    return queue.add(session.conversation.id, prompt, preference=preference)


async def test_one_answered_message_records_the_session_and_the_queue_once(
    emulator, engine_factory, client, stores, monkeypatch
):
    store, queue = stores
    engine = engine_factory()
    session = conversation(store, engine)
    item = queued(queue, session, "hello [[tokens=12]]")
    marks = Counting(monkeypatch, RequestQueue, "mark")
    appends = Counting(monkeypatch, SessionStore, "append")
    shown = Recorder(queue, item.id)

    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    await runner.run(Outgoing(item.prompt, Routing("auto"), item=item, session=session), shown)

    kinds = [type(e) for e in shown.events]
    assert kinds[0] is Planned and Routed in kinds and Delta in kinds and kinds[-1] is Finished
    finished = shown.of(Finished)[0]
    assert finished.text and finished.model == PRO
    # the queue: sending once when routed, done once, after the answer was shown
    assert [call[1] for call in marks.calls] == ["sending", "done"]
    assert shown.state_when_shown[kinds.index(Routed)] == "sending"
    assert shown.state_when_shown[-1] == "sending", "done is written after the consumer showed Finished"
    after = queue.get(item.id)
    assert after.state == "done" and after.model == PRO
    # the session: the prompt and the answer, each stored once
    assert [call[1] for call in appends.calls] == ["user", "model"]
    messages = store.messages(session.conversation.id)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("model", "complete")]
    assert messages[1].text == finished.text and after.message_id == messages[0].id
    assert server(emulator, PRO)["accepted"] == 1
    assert runner.outgoing is None, "nothing in flight after the turn"


async def test_a_failure_marks_the_item_failed_and_keeps_the_prompt(emulator, engine_factory, client, stores):
    store, queue = stores
    engine = engine_factory()
    session = conversation(store, engine)
    item = queued(queue, session, "will fail [[tokens=12]]", preference="pro")
    emulator.set_fault("internal", count=10, model=PRO)
    shown = Recorder(queue, item.id)

    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    await runner.run(Outgoing(item.prompt, Routing("pro"), item=item, session=session), shown)

    failed = shown.of(Failed)
    assert len(failed) == 1 and not failed[0].partial and shown.events[-1] is failed[0]
    after = queue.get(item.id)
    assert after.state == "failed" and after.error == failed[0].failure.message
    messages = store.messages(session.conversation.id)
    assert [(m.role, m.status) for m in messages] == [("user", "error")], "no empty answer is kept"
    assert messages[0].text == item.prompt and messages[0].error == failed[0].failure.message


async def test_cancel_before_routing_requeues_the_item_and_forgets_the_stored_prompt(
    emulator, engine_factory, client, stores
):
    store, queue = stores
    engine = engine_factory()
    for _ in range(5):  # Pro's minute is full: a forced Pro waits
        admission = engine.try_reserve(PROJECT, PRO, RequestCost(input_tokens=10))
        engine.commit(admission.reservation_id, input_tokens=10)
    session = conversation(store, engine)
    item = queued(queue, session, "later [[tokens=12]]", preference="pro")
    shown = Recorder(queue, item.id)
    waiting = asyncio.Event()

    async def show(event: object) -> None:
        await Recorder.show(shown, event)
        if isinstance(event, Waiting):
            waiting.set()
            await asyncio.Event().wait()  # the user looks at the countdown, then presses Esc

    shown.show = show  # type: ignore[method-assign]
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    task = asyncio.create_task(runner.run(Outgoing(item.prompt, Routing("pro"), item=item, session=session), shown))
    await asyncio.wait_for(waiting.wait(), 10)
    assert queue.get(item.id).message_id is not None, "stored when dispatched"

    runner.stop(requeue=True)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert shown.of(Cancelled) == [Cancelled(routed=False, model="", text="")]
    after = queue.get(item.id)
    assert after.state == "queued" and after.message_id is None, "back in line, stored afresh when sent"
    assert store.messages(session.conversation.id) == [], "the prompt is stored again when it is sent"
    assert server(emulator, PRO)["accepted"] == 0


async def test_cancel_without_requeue_cancels_the_item(emulator, engine_factory, client, stores):
    store, queue = stores
    engine = engine_factory()
    session = conversation(store, engine)
    item = queued(queue, session, "never mind [[tokens=12]]")
    started = asyncio.Event()

    class Blocking(Recorder):
        async def ready(self, outgoing: Outgoing) -> bool:  # still connecting when Esc comes
            started.set()
            await asyncio.Event().wait()
            return True

    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    task = asyncio.create_task(runner.run(Outgoing(item.prompt, item=item, session=session), Blocking(queue, item.id)))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert queue.get(item.id).state == "cancelled"


async def test_a_store_that_cannot_be_written_never_loses_the_answer(
    emulator, engine_factory, client, stores, monkeypatch
):
    store, queue = stores
    engine = engine_factory()
    session = conversation(store, engine)
    item = queued(queue, session, "long answer [[tokens=400]]")
    full = sqlite3.OperationalError("database or disk is full")
    record = ChatSession.record
    attempts: list[object] = []

    def record_until_full(self, event):
        attempts.append(event)
        if isinstance(event, Delta):
            raise full
        record(self, event)

    monkeypatch.setattr(ChatSession, "record", record_until_full)
    shown = Recorder(queue, item.id)
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    await runner.run(Outgoing(item.prompt, item=item, session=session), shown)

    finished = shown.of(Finished)
    assert len(finished) == 1, "the answer went on"
    assert "".join(d.text for d in shown.of(Delta)) == finished[0].text
    assert shown.of(Unsaved) == [Unsaved("the conversation", "disk full")], "told once"
    assert sum(isinstance(e, Delta) for e in attempts) == 1, "the store is not written again this turn"
    assert not any(isinstance(e, Finished) for e in attempts)
    assert queue.get(item.id).state == "done", "the queue is another store: still written"


async def test_a_prompt_no_budget_can_take_is_not_sent(emulator, engine_factory, client, stores):
    store, queue = stores
    engine = engine_factory()
    conv = store.create(title="small budget")
    session = ChatSession(
        store, conv, engine=engine, project=PROJECT, config=Config({"context": {"max_input_tokens": 200}})
    )
    huge = "word " * 2000
    item = queued(queue, session, huge)
    shown = Recorder(queue, item.id)

    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)
    await runner.run(Outgoing(item.prompt, item=item, session=session), shown)

    not_sent = shown.of(NotSent)
    assert len(not_sent) == 1 and not_sent[0].stored is not None and not_sent[0].stored.text == huge
    assert queue.get(item.id).state == "failed" and queue.get(item.id).error == not_sent[0].reason
    assert not shown.of(Routed) and server(emulator, PRO)["accepted"] == 0


async def test_settle_for_exit_keeps_an_answer_being_written_as_cut(emulator, engine_factory, client, stores):
    store, queue = stores
    engine = engine_factory()
    session = conversation(store, engine)
    item = queued(queue, session, "quit midway [[tokens=400]]")
    runner = TurnRunner(Wire(engine, PROJECT, lambda: client), queue)

    class Quitting(Recorder):
        async def show(self, event: object) -> None:
            await super().show(event)
            if isinstance(event, Delta) and not runner.settled:
                runner.settle_for_exit(keep=True, reason="stopped: gemtui quit")

    await runner.run(Outgoing(item.prompt, item=item, session=session), Quitting(queue, item.id))

    after = queue.get(item.id)
    assert after.state == "failed" and after.error == "stopped: gemtui quit"
    answer = [m for m in store.messages(session.conversation.id) if m.role == "model"]
    assert len(answer) == 1 and answer[0].status == "partial" and answer[0].text
