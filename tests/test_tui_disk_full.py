"""A full disk while an answer streams in the TUI: the store stops, the answer on screen does not."""

from __future__ import annotations

import sqlite3

from gemtui.chat.conversation import ChatSession
from gemtui.chat.queue import RequestQueue
from gemtui.chat.sender import Delta
from gemtui.emulator.textgen import generate_text
from tests.tui_helpers import SharedClock, answers, labels, make_app, ready, submit, until

PROMPT = "tell me everything [[tokens=300]]"


async def test_a_full_disk_mid_answer_keeps_the_whole_answer_on_screen(emulator, emulator_clock, monkeypatch):
    full = sqlite3.OperationalError("database or disk is full")
    record, mark = ChatSession.record, RequestQueue.mark
    deltas = []

    def record_until_full(self, event):
        if isinstance(event, Delta):
            deltas.append(event)
            if len(deltas) > 2:  # the disk fills up a few chunks into the answer
                raise full
        return record(self, event)

    def mark_until_full(self, item_id, state, **kwargs):
        if state == "done":
            raise full
        return mark(self, item_id, state, **kwargs)

    monkeypatch.setattr(ChatSession, "record", record_until_full)
    monkeypatch.setattr(RequestQueue, "mark", mark_until_full)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, PROMPT)
        await until(pilot, lambda: any(" out" in label for label in labels(screen)), timeout=20)
        shown = answers(screen)[0]
        assert shown.text.split() == generate_text(PROMPT, 0).split()  # every word, none cut
        notices = [str(n.message) for n in app._notifications]
        assert sum("could not save the conversation (disk full)" in n for n in notices) == 1
        assert any("could not save the queue (disk full)" in n for n in notices)
        assert not any("error:" in str(view.query_one(".status").content) for view in answers(screen))
        assert app.is_running
