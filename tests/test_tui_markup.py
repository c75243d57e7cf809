"""The crashes of issue 16, each driven through the app: user text shown as markup, and stored rows that
could not be shown or sent taking the app down at every start."""

from __future__ import annotations

import logging
import time

from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.quota.limits import FLASH, PRO
from tests.tui_helpers import GatedClock, SharedClock, answers, fill, labels, make_app, ready, submit, until

CLOSING_TAG = "Then explain [/] again"
DOUBLE_BRACKETS = "Please answer in [[tokens=4000]] max"  # its 30-character preview ends inside the brackets


def test_control_characters_are_shown_as_symbols_and_never_drawn():
    from rich.segment import Segment
    from textual.strip import Strip

    from gemtui.tui.literal import DROP_CONTROL, cell, literal, visible

    assert visible("a\x1b[31m\x00\x7f\x9b\tb\nc") == "a\u241b[31m\u2400\u2421\ufffd\tb\nc"
    assert str(literal("[/] [b]x")) == "[/] [b]x" and str(cell("[/]")) == "[/]"
    line = Strip([Segment("ok \x1b[2J"), Segment("\x07"), Segment("漢字\x9b")])
    drawn = line.apply_filter(DROP_CONTROL, None)
    assert drawn.text == "ok [2J漢字" and drawn.cell_length == line.cell_length == 10  # controls: no width


def queue_rows(screen) -> list[str]:
    panel = screen.query_one("#queue")
    return [str(label.content) for label in panel.list_view.query(".prompt")]


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_prompt_with_a_closing_tag_typed_while_an_answer_streams_waits_in_the_queue(emulator, emulator_clock):
    emulator.set_pacing(ttft_s=2.0, tokens_per_s=2000)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "first question")
        await until(pilot, lambda: screen.chat_task.busy)
        await submit(pilot, CLOSING_TAG)
        await until(pilot, lambda: queue_rows(screen) == [CLOSING_TAG])
        await until(pilot, lambda: sum(" out" in lbl for lbl in labels(screen)) == 2, timeout=20)
        users = [m.text for m in screen.conversation.messages() if m.role == "user"]
        assert users == ["first question", CLOSING_TAG]


async def test_resume_with_such_a_prompt_still_queued_shows_it_and_sends_it(emulator, emulator_clock):
    store = SessionStore()
    conv = store.create(title="queued at quit")
    store.close()
    queue = RequestQueue()
    queue.add(conv.id, CLOSING_TAG, preference="pro")
    queue.close()
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, resume=str(conv.id), model="pro")
    fill(app.opener().runtime, PRO, 5)  # the prompt waits for Pro, so its row stays in the panel
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: clock.sleepers >= 1 and queue_rows(screen) == [CLOSING_TAG])
        clock.gate.set()
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)), timeout=20)
        users = [m.text for m in SessionStore().messages(conv.id) if m.role == "user"]
        assert users == [CLOSING_TAG]


async def test_retry_of_a_prompt_with_double_brackets(emulator, emulator_clock):
    store = SessionStore()
    conv = store.create(title="cut short")
    store.append(conv.id, "user", DOUBLE_BRACKETS)
    store.append(conv.id, "model", "Half an ans", model=FLASH, status="partial")
    store.close()
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, resume=str(conv.id), model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(screen.conversation.messages()) == 2)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "/retry")
        await until(pilot, lambda: clock.sleepers >= 1 and len(queue_rows(screen)) == 1)
        assert queue_rows(screen) == ["Please answer in [[tokens=400…"]
        clock.gate.set()
        await until(pilot, lambda: len(answers(screen)) == 2 and " out" in labels(screen)[1], timeout=20)


async def test_sessions_list_shows_a_title_with_a_closing_tag_and_deletes_it(emulator, emulator_clock):
    from textual.widgets import DataTable

    from gemtui.tui.screens.sessions import SessionsScreen

    store = SessionStore()
    keep = store.create(title="an ordinary chat")
    store.append(keep.id, "user", "hello")
    bad = store.create(title=CLOSING_TAG + " [b]not bold[@click=app.quit]")
    store.append(bad.id, "user", CLOSING_TAG)
    store.close()
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/sessions")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 2)
        titles = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert titles[0] == CLOSING_TAG + " [b]not bold[@click=app.quit]"  # the newest first, as typed
        table.move_cursor(row=0)
        await pilot.press("d")
        await pilot.press("d")
        await until(pilot, lambda: table.row_count == 1)
        assert SessionStore().get(bad.id) is None and SessionStore().get(keep.id) is not None
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)


# ---- quarantine: a stored row that cannot be shown or sent ------------------------------------------------


def plant_queue_rows(conv_id: int) -> tuple[int, int, int]:
    """A prompt stored as bytes, a countdown that is not a number (what a damaged or foreign writer could
    leave), and an ordinary prompt behind them."""
    queue = RequestQueue()
    now = time.time()
    insert = (
        "INSERT INTO queue(position, conversation_id, prompt, preference, state, eta, reason, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?)"
    )
    ids = []
    for position, prompt, eta in (
        (1, b"\xff\xfe not text", None),
        (2, "a fine prompt", "soon"),
        (3, "after the bad ones", None),
    ):
        cursor = queue._db.execute(insert, (position, conv_id, prompt, "auto", "queued", eta, None, now, now))
        ids.append(int(cursor.lastrowid))
    queue.close()
    return ids[0], ids[1], ids[2]


async def test_queue_rows_that_cannot_be_shown_are_quarantined_not_crashed_on(emulator, emulator_clock, caplog):
    store = SessionStore()
    conv = store.create(title="has bad rows")
    store.close()
    bytes_id, eta_id, good_id = plant_queue_rows(conv.id)
    caplog.set_level(logging.ERROR, logger="gemtui")
    app = make_app(emulator, SharedClock(emulator_clock), resume=str(conv.id))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)), timeout=20)
        users = [m.text for m in screen.conversation.messages() if m.role == "user"]
        assert users == ["after the bad ones"]
        said = notices(app)
        for item_id in (bytes_id, eta_id):
            assert any(f"queued message {item_id} cannot be shown or sent" in n for n in said), said
    queue = RequestQueue()
    for item_id in (bytes_id, eta_id):
        item = queue.get(item_id)
        assert item.state == "quarantined" and item.error.startswith("quarantined: ")
    assert queue.get(good_id).state == "done"
    assert queue.items() == []  # nothing left to be picked at the next start
    logged = [r for r in caplog.records if r.name.startswith("gemtui") and r.exc_info]
    assert {f"queue item {i} cannot be shown or sent; quarantined" for i in (bytes_id, eta_id)} <= {
        r.getMessage() for r in logged
    }


async def test_a_stored_message_that_cannot_be_shown_is_set_aside(emulator, emulator_clock, caplog):
    store = SessionStore()
    conv = store.create(title="a damaged conversation")
    first = store.append(conv.id, "user", "what is RPM?")
    store.append(conv.id, "model", "Requests per minute.", model=FLASH)
    broken = store.append(conv.id, "user", "placeholder")
    store._conn.execute("UPDATE messages SET text = ? WHERE id = ?", (b"\x00\xff", broken.id))
    odd = store.append(conv.id, "model", "an answer from nowhere", model=FLASH)
    store._conn.execute("UPDATE messages SET role = 'robot' WHERE id = ?", (odd.id,))
    store.close()
    caplog.set_level(logging.ERROR, logger="gemtui")
    app = make_app(emulator, SharedClock(emulator_clock), resume=str(conv.id))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(screen.conversation.query(".marker")) >= 2)
        shown = [m.msg_id for m in screen.conversation.messages()]
        assert shown[0] == first.id and broken.id not in shown and odd.id not in shown
        marks = [str(m.content) for m in screen.conversation.query(".marker")]
        assert any(f"stored message {broken.id} cannot be shown" in m for m in marks), marks
        assert any(f"stored message {odd.id} cannot be shown" in m for m in marks), marks
        await submit(pilot, "and TPM?")  # the conversation goes on
        await until(pilot, lambda: len(answers(screen)) == 2 and " out" in labels(screen)[1], timeout=20)
    stored = {m.id: m for m in SessionStore().messages(conv.id)}
    for msg_id in (broken.id, odd.id):
        assert stored[msg_id].status == "error" and stored[msg_id].error.startswith("quarantined: ")
    assert any(r.exc_info and f"stored message {broken.id}" in r.getMessage() for r in caplog.records)


async def test_a_session_that_cannot_be_listed_is_shown_as_unreadable_and_can_be_deleted(
    emulator, emulator_clock, caplog
):
    from textual.widgets import DataTable

    from gemtui.tui.screens.sessions import SessionsScreen

    store = SessionStore()
    bad = store.create(title="damaged")
    store._conn.execute("UPDATE conversations SET updated_at = 'yesterday' WHERE id = ?", (bad.id,))
    store.close()
    caplog.set_level(logging.ERROR, logger="gemtui")
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await submit(pilot, "/sessions")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[1]).startswith("(unreadable: TypeError")
        await pilot.press("d")
        await pilot.press("d")
        await until(pilot, lambda: table.row_count == 0)
    assert SessionStore().get(bad.id) is None
    assert any(r.exc_info and f"session {bad.id} cannot be listed" in r.getMessage() for r in caplog.records)


async def test_a_theme_whose_name_would_be_markup_is_skipped_with_a_notice():
    """Textual's own theme list in the palette parses theme names as markup: such a file is refused."""
    from textual.command import CommandPalette

    from gemtui import paths
    from gemtui.tui.app import GemtuiApp

    user = paths.config_dir() / "themes"
    user.mkdir(parents=True)
    (user / "odd.toml").write_text('name = "my [/] theme"\n[colors]\nprimary = "#ff0000"\n', encoding="utf-8")
    app = GemtuiApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "my [/] theme" not in app.available_themes
        assert any("odd.toml: a theme name may not contain [" in n for n in notices(app))
        app.action_change_theme()
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.3)
        await pilot.press("escape")
