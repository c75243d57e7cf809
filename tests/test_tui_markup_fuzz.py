"""Hostile text through every widget and screen: markup-like brackets, escape sequences, control and wide
characters, very long lines. Nothing crashes, what is shown is the text as written (control characters
as visible symbols), no control character reaches the terminal, and /export writes the text back verbatim.

The strings come from a seeded generator, so a failure repeats run to run.
"""

from __future__ import annotations

import random
import re

import pytest

from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.quota.limits import PRO
from gemtui.tui.literal import visible
from gemtui.tui.slash import conversation as slash_conversation
from tests.tui_helpers import GatedClock, fill, make_app, ready, until

pytestmark = pytest.mark.asyncio

PIECES = (
    "[",
    "]",
    "[/]",
    "[/b]",
    "[b",
    "[b]",
    "[[",
    "]]",
    "[[tokens=4000]]",
    "[link=https://example.com]",
    "[@click=app.quit]",
    "[on red]",
    "[$accent]",
    "[i]",
    "\\[",
    "\\",
    "\x1b[31m",
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b[?1049l",
    "\x9b31m",
    "\x00",
    "\x07",
    "\x08",
    "\r",
    "\x7f",
    "\t",
    "\n",
    "漢字",
    "👩‍👩‍👧",
    "e\u0301",
    "\u202e",
    "\u200b",
    "```",
    "|",
    "*",
    "# ",
    "<b>",
    "{x}",
    "%s",
    " ",
    "word",
)
EVERY_CONTROL = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
DRAWN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # an SVG keeps its own newlines and tabs


def hostile_strings(seed: int = 16, count: int = 8) -> list[str]:
    rng = random.Random(seed)
    strings = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) for _ in range(count)]
    strings += [
        "Then explain [/] again",
        "Please answer in [[tokens=4000]] max",
        EVERY_CONTROL,
        "".join(PIECES),
        "[/]" * 400 + "長" * 600 + "x" * 2000,
    ]
    return strings


STRINGS = hostile_strings()


def one_line(text: str) -> str:
    return " ".join(text.split())


def no_control_drawn(app) -> None:
    shot = app.export_screenshot()
    assert not DRAWN_CONTROL.search(shot), "a control character reached the terminal"


async def test_hostile_text_through_every_widget_and_screen(emulator, emulator_clock, tmp_path):
    from textual.widgets import DataTable, Input

    from gemtui.tui.screens.sessions import SessionsScreen

    # A stored conversation of hostile messages (user text, model names, errors) and hostile titles.
    store = SessionStore()
    conv = store.create(title=STRINGS[0], name="fuzz")
    for text in STRINGS:
        store.append(conv.id, "user", text)
        store.append(
            conv.id,
            "model",
            text,
            model=one_line(text)[:40] or "m",
            input_tokens=1,
            output_tokens=2,
            latency_s=0.1,
            status="partial",
        )
    store.update_message(store.messages(conv.id)[-1].id, error=STRINGS[1])
    titled = [store.create(title=text) for text in STRINGS[:6]]
    store.close()
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, resume=str(conv.id), model="pro")
    fill(app.opener().runtime, PRO, 5)  # the queue waits (gated), so its rows stay to be looked at
    async with app.run_test(size=(100, 36)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(screen.conversation.messages()) == 2 * len(STRINGS), timeout=20)

        # the transcript: labels, statuses, notices, the user's own messages
        views = screen.conversation.messages()
        for view, text in zip(views, STRINGS, strict=False):
            screen._set_label(view, text)
            view.set_status(text, error=True)
            await screen.conversation.add_notice(text)
        await pilot.pause()
        assert str(views[0].query_one(".label").content).endswith(STRINGS[0])
        users = [v.text for v in views if v.role == "user"]
        assert users == STRINGS
        no_control_drawn(app)
        await screen.conversation.clear()  # a long transcript makes every later layout slow

        # the queue panel: prompts and the server's reasons
        await screen.enqueue(STRINGS[0])
        await until(pilot, lambda: clock.sleepers >= 1)
        queue = RequestQueue()
        for text in STRINGS[1:]:
            queue.add(screen.conv_id, text, preference="pro")
        for item in queue.items(("queued",)):
            queue.note_wait(item.id, screen.now + 30, item.prompt)
        await screen.refresh_queue()
        screen.tick()
        await pilot.pause()
        from gemtui.tui.widgets.queue_panel import preview

        rows = [str(label.content) for label in screen.query_one("#queue").list_view.query(".prompt")]
        assert rows == [visible(preview(text)) for text in STRINGS]  # all wait: the head for Pro, gated
        no_control_drawn(app)

        # notices, the status and routing lines, the title, the gauges of a model named by a server
        for text in STRINGS:
            screen.show_info(text)
            screen.show_switch(text, one_line(text), text)
            screen.end_switch(text)
            screen.conv_title = text
            screen.update_title()
            screen.set_status(text)
            screen.preference = text  # a model id from the config or a server, through the gauges
            screen.refresh_gauges()
            await pilot.pause()
            no_control_drawn(app)
            app.clear_notifications()
        assert str(screen.query_one("#status").content) == STRINGS[-1]
        assert str(screen.query_one("#quota-title").content) == STRINGS[-1]
        screen.preference = "pro"

        # the sessions list
        await app.push_screen(SessionsScreen(screen.store, screen.conv_id))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1 + len(titled))
        titles = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {visible(text) for text in STRINGS[:6]} <= titles
        no_control_drawn(app)
        app.pop_screen()

        # the command palette, searched with hostile queries
        app.action_command_palette()
        await pilot.pause()
        for text in STRINGS:
            app.screen.query_one(Input).value = text
            await pilot.pause(0.05)
        no_control_drawn(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        # /export writes every text back as it was written
        target = tmp_path / "fuzz.md"
        await slash_conversation.export(screen, str(target))
        exported = target.read_bytes().decode("utf-8")
        for text in STRINGS:
            assert text in exported
        assert app.is_running


async def test_hostile_text_through_every_dialog_and_picker():
    """The dialogs on an app with no connection (nothing else on screen): the same text, three to a dialog."""
    from gemtui.chat.sender import AskUser
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.ask import AskDialog
    from gemtui.tui.screens.confirm import ConfirmDialog
    from gemtui.tui.screens.context import ContextScreen
    from gemtui.tui.screens.edit import EditDialog
    from gemtui.tui.screens.model_picker import ModelPicker
    from gemtui.tui.screens.theme_picker import ThemePicker

    def threes():
        for i in range(0, len(STRINGS), 3):
            yield (STRINGS[i : i + 3] + STRINGS[:2])[:3]

    app = GemtuiApp()
    async with app.run_test(size=(100, 36)) as pilot:
        chat = app.screen
        dialogs = [
            EditDialog("\n".join(STRINGS)),
            ThemePicker([*STRINGS, "textual-dark"], STRINGS[0]),
            ContextScreen(STRINGS),
        ]
        for first, second, third in threes():
            ask = AskUser(preferred=first, alternative=one_line(second), until=chat.now + 45, reason=third)
            dialogs += [
                ConfirmDialog(first, second, note=third),
                AskDialog(ask, lambda: chat.now),
                ModelPicker(chat, first),
            ]
        for dialog in dialogs:
            await app.push_screen(dialog)
            await pilot.pause()
            no_control_drawn(app)
            app.pop_screen()
        await pilot.pause()
        assert app.is_running
