"""ChatSession: the stored conversation in use, through the sender, against the emulator."""

from __future__ import annotations

from gemtui.chat.conversation import ChatSession
from gemtui.chat.sender import Failed, Finished, send
from gemtui.chat.sessions import SessionStore
from gemtui.chat.tokens import TokenEstimator
from gemtui.config import Config
from gemtui.gemini.client import make_client
from tests.fixtures_e2e import collect


async def _run(session, prepared, engine, client):
    events = await collect(send(prepared.request, engine=engine, client=client, project="proj-other"))
    for event in events:
        session.record(event)
    return events


async def test_retry_resends_the_stored_prompt_once_and_drops_the_broken_answer(emulator, engine_factory, tmp_path):
    engine = engine_factory()
    client = make_client("key-c", emulator.base_url)
    store = SessionStore(tmp_path / "s.sqlite3")
    session = ChatSession(
        store,
        store.create(),
        engine=engine,
        project="proj-other",
        config=Config({}),
        estimator=TokenEstimator(tmp_path / "cal.json"),
    )
    emulator.set_fault("cut_stream", count=1, after_chunks=2)
    first = session.prepare("tell me a long story [[tokens=300]]", preference="flash")
    events = await _run(session, first, engine, client)
    assert isinstance(events[-1], Failed) and events[-1].partial
    assert [(m.role, m.status) for m in store.messages(session.conversation.id)] == [
        ("user", "complete"),
        ("model", "partial"),
    ]

    again = session.prepare_again(first.user_message.id, preference="flash")
    sent = again.request.turns_for("gemini-2.5-flash")
    assert [t.role for t in sent] == ["user"], "the cut answer is not sent as history"
    events = await _run(session, again, engine, client)
    assert isinstance(events[-1], Finished)
    roles = [(m.role, m.status) for m in store.messages(session.conversation.id)]
    assert roles == [("user", "complete"), ("model", "error"), ("model", "complete")], "stored once"


def _session(tmp_path, engine, context: dict) -> ChatSession:
    store = SessionStore(tmp_path / "s.sqlite3")
    return ChatSession(
        store,
        store.create(),
        engine=engine,
        project="proj-other",
        config=Config({"context": context}),
        estimator=TokenEstimator(tmp_path / "cal.json"),
    )


def test_an_oversized_message_is_refused_before_sending_unless_truncation_was_chosen(engine_factory, tmp_path):
    import pytest

    from gemtui.chat.context import ContextTooLarge

    engine = engine_factory()
    huge = "a sentence that goes on. " * 2000
    refusing = _session(tmp_path / "a", engine, {"max_input_tokens": 1000})
    with pytest.raises(ContextTooLarge, match="over the 1,000-token budget"):
        refusing.prepare(huge, preference="flash")
    (stored,) = refusing.store.messages(refusing.conversation.id)
    assert stored.status == "error", "kept, never sent as history"

    cutting = _session(tmp_path / "b", engine, {"max_input_tokens": 1000, "truncate_oversized": True})
    prepared = cutting.prepare(huge, preference="flash")
    (turn,) = prepared.request.turns_for("gemini-2.5-flash")
    assert 0 < len(turn.text) < len(huge) / 5
    assert prepared.plans["gemini-2.5-flash"].truncated
