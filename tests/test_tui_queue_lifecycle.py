"""The queue across quits and starts: quitting asks about waiting prompts, the next start offers them
whatever its flags, message numbers survive a resume, and a failed prompt keeps its error."""

from __future__ import annotations

import pytest

from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.quota.limits import PRO
from gemtui.tui.screens.chat import ChatScreen
from gemtui.tui.screens.quit import QuitDialog
from gemtui.tui.screens.waiting import WaitingDialog
from tests.tui_helpers import (
    GatedClock,
    SharedClock,
    answers,
    fill,
    labels,
    make_app,
    ready,
    shown_labels,
    submit,
    until,
)

pytestmark = pytest.mark.asyncio

ALL_STATES = ("queued", "sending", "done", "failed", "cancelled", "merged")


def _text(widget) -> str:
    return str(widget.render())


async def _two_waiting(pilot, clock) -> ChatScreen:
    """Pro is full and forced: the first prompt waits (stored, planned), the second waits behind it."""
    screen = await ready(pilot)
    fill(pilot.app.runtime, PRO, 5)
    await submit(pilot, "first waits for pro")
    await until(pilot, lambda: clock.sleepers == 1)
    await submit(pilot, "second waits too")
    assert len(screen.waiting_items()) == 2
    return screen


async def test_quit_with_messages_waiting_asks_and_keep_leaves_them_for_next_time(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _two_waiting(pilot, clock)
        conv_id = screen.conv_id
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog))
        assert "2 messages waiting" in _text(app.screen.query_one("#quit-title"))
        await pilot.press("escape")  # go back: nothing changes
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert app.is_running and len(screen.waiting_items()) == 2
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog))
        await pilot.press("k")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0
    waiting = RequestQueue().items(ALL_STATES)
    assert [(i.prompt, i.state, i.message_id) for i in waiting] == [
        ("first waits for pro", "queued", None),
        ("second waits too", "queued", None),
    ]
    assert SessionStore().messages(conv_id) == []  # the unsent prompt is stored again when it is sent


async def test_quit_and_cancel_them_cancels_every_waiting_prompt(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _two_waiting(pilot, clock)
        conv_id = screen.conv_id
        await submit(pilot, "/quit")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog))
        await pilot.press("c")
        await until(pilot, lambda: not app.is_running)
    assert {i.state for i in RequestQueue().items(ALL_STATES)} == {"cancelled"}
    assert SessionStore().messages(conv_id) == []


def _left_behind() -> tuple[int, int]:
    """What a gemtui killed while sending leaves: a stored prompt whose item was `sending`, one more
    queued behind it, and a headless batch's item that is not the app's to send."""
    store = SessionStore()
    conv = store.create(title="rust [b]lifetimes[/]")
    stored = store.append(conv.id, "user", "what is a lifetime?")
    store.close()
    queue = RequestQueue()
    first = queue.add(conv.id, "what is a lifetime?")
    queue.set_message(first.id, stored.id)
    queue.mark(first.id, "sending")
    queue.add(conv.id, "and a borrow?")
    batch = queue.add(None, "a batch prompt", batch_id="b-1")
    queue._db.execute("UPDATE queue SET owner_pid=999999, owner_started='1'")  # all queued by a process long gone
    queue.close()
    return conv.id, batch.id


async def test_a_plain_start_offers_the_waiting_messages_and_resume_sends_them(emulator, emulator_clock):
    conv_id, batch_id = _left_behind()
    app = make_app(emulator, SharedClock(emulator_clock))  # no --resume
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WaitingDialog), timeout=20)
        screen = app.chat_screen()
        dialog = app.screen
        assert "2 messages waiting from last time" in _text(dialog.query_one("#waiting-title"))
        assert _text(dialog.query_one("#waiting-list")) == "2 in “rust [b]lifetimes[/]”"
        assert screen.conv_id is None  # nothing is sent before the user says so
        await pilot.press("r")
        await until(
            pilot, lambda: len(answers(screen)) == 2 and all(" out" in lbl for lbl in labels(screen)), timeout=40
        )
        assert screen.conv_id == conv_id
        users = [m.text for m in SessionStore().messages(conv_id) if m.role == "user"]
        assert users == ["what is a lifetime?", "and a borrow?"]  # the stored prompt is not stored twice
    assert RequestQueue().get(batch_id).state == "queued"


async def test_the_offer_can_cancel_them_or_leave_them_for_later(emulator, emulator_clock):
    conv_id, batch_id = _left_behind()
    app = make_app(emulator, SharedClock(emulator_clock), resume="")  # --resume of another one
    SessionStore().create(title="newer conversation")  # what --resume "" opens
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WaitingDialog), timeout=20)
        screen = app.chat_screen()
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert len([i for i in RequestQueue().items(("queued",)) if i.batch_id is None]) == 2
        assert screen.conv_id != conv_id

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WaitingDialog), timeout=20)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        states = {i.prompt: i.state for i in RequestQueue().items(ALL_STATES)}
        assert states == {"what is a lifetime?": "cancelled", "and a borrow?": "cancelled", "a batch prompt": "queued"}


async def test_message_numbers_survive_a_resume_and_pin_the_same_message(emulator, emulator_clock):
    from gemtui.chat.compact import apply_compaction

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        for prompt in ("one", "two", "three"):
            await submit(pilot, prompt)
            await until(
                pilot,
                lambda p=prompt: sum(" out" in lbl for lbl in labels(screen)) == ("one", "two", "three").index(p) + 1,
                timeout=20,
            )
        before = shown_labels(screen)
        assert [lbl.split(" ")[0] for lbl in before] == ["#1", "#2", "#3", "#4", "#5", "#6"]
        await submit(pilot, "/pin 5")
        conv_id = screen.conv_id
        ids = {n: i for i, n in screen._numbers.items()}
    store = SessionStore()
    pinned_before = [m.id for m in store.messages(conv_id) if m.pinned]
    assert pinned_before == [ids[5]]
    # the first exchange is compacted: it is no longer shown, the summary is
    apply_compaction(store, conv_id, [ids[1], ids[2]], "they said one", PRO)

    app = make_app(emulator, SharedClock(emulator_clock), resume=str(conv_id))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(
            pilot,
            lambda: (
                len(screen.conversation.messages()) == 5 and all(lbl.startswith("#") for lbl in shown_labels(screen))
            ),
        )
        shown = {m.msg_id: m._label.split(" ")[0] for m in screen.conversation.messages()}
        assert [shown[ids[n]] for n in (3, 4, 5, 6)] == ["#3", "#4", "#5", "#6"]
        await submit(pilot, "/pin 3")
        await submit(pilot, "/unpin 5")
    pinned_after = [m.id for m in SessionStore().messages(conv_id) if m.pinned and m.kind != "summary"]
    assert pinned_after == [ids[3]]


async def test_a_failed_prompt_keeps_its_error_after_a_sessions_resume(emulator, emulator_clock):
    emulator.set_fault("html_page", count=50)
    app = make_app(emulator, SharedClock(emulator_clock), model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "this will fail")
        await until(
            pilot,
            lambda: (
                not screen.chat_task.busy
                and screen.conv_id is not None
                and bool(screen.conversation.query(".marker") or answers(screen))
            ),
            timeout=30,
        )
        conv_id = screen.conv_id
        item = RequestQueue().items(("failed",))[0]
        assert item.error and item.error != "not sent"
        await submit(pilot, "/new")
        await submit(pilot, "/sessions")
        from gemtui.tui.screens.sessions import SessionsScreen

        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await pilot.press("enter")
        await until(pilot, lambda: screen.conv_id == conv_id and screen.conversation.messages())
        user = screen.conversation.messages()[0]
        status = str(user.query_one(".status").render())
        assert status == f"not sent: {item.error}"
        assert "not sent: not sent" not in status
