"""What a user may type that is not what a command expects, and a ledger that fails under an open screen:
each gets one line and the app goes on. Every case here ended the app (exit 1) or went silent before."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from tests.tui_helpers import SharedClock, labels, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio

KEY = "AIzaSyA1234567890abcdefghijklmnop"


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def answered(pilot, chat, prompt: str = "hello") -> None:
    await submit(pilot, prompt)
    await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)


@pytest.mark.parametrize("command", ["/copy ²", "/copy code ٣", "/pin ²", "/open ²", "/copy 99999999999999999999999"])
async def test_a_digit_of_another_script_is_not_a_message_number(emulator, emulator_clock, command):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await ready(pilot)
        await answered(pilot, chat)
        await submit(pilot, command)
        await pilot.pause(0.2)
        assert app.crashed is None and app.is_running
        assert notes(app), "the command said something"


async def test_export_to_an_unknown_users_home_says_so_and_a_written_export_is_private(
    emulator, emulator_clock, tmp_path
):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await ready(pilot)
        await answered(pilot, chat)
        await submit(pilot, "/export ~nosuchuser_gemtui_zz/x.md")
        await until(pilot, lambda: any("no such user" in n for n in notes(app)))
        assert app.crashed is None
        target = tmp_path / "out" / "talk.md"
        await submit(pilot, f"/export {target}")
        await until(pilot, lambda: target.exists())
        assert "hello" in target.read_text(encoding="utf-8")
        assert os.stat(target).st_mode & 0o777 == 0o600


async def test_a_mention_of_an_unknown_users_home_is_refused_in_one_line(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await ready(pilot)
        await pilot.press("at", "tilde", "n", "o", "s", "u", "c", "h", "_", "z", "slash")  # completion looks
        await pilot.pause(0.2)
        assert app.crashed is None
        chat.composer.set_text("")
        sent = len(emulator.requests())
        await submit(pilot, "see @~nosuch_gemtui_zz/notes.txt")
        await until(pilot, lambda: any("no such user's home folder" in n for n in notes(app)))
        assert app.crashed is None
        assert chat.composer.text.startswith("see @~nosuch")  # kept to be mended, not lost
        assert len(emulator.requests()) == sent  # nothing went out


async def test_an_unexpected_error_in_a_turn_is_shown_and_logged_never_silent(
    emulator, emulator_clock, caplog, monkeypatch
):
    """A ValueError that is not an attachment's (a library's validation error, say) used to escape the
    handler: no line on screen, nothing in the log. Its text may quote a key: shown masked."""
    from gemtui.chat import turn_runner

    async def failing_stream(self, *args, **kwargs):
        raise ValueError(f"1 validation error: url https://relay.example/x?key={KEY}")

    monkeypatch.setattr(turn_runner.TurnRunner, "_stream", failing_stream)
    caplog.set_level(logging.ERROR)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "hello")
        shown = lambda: " ".join(str(w.render()) for w in chat.conversation.query("Static"))  # noqa: E731
        await until(pilot, lambda: not chat.chat_task.busy and "validation error" in shown())
        assert KEY not in shown() and "AIza…mnop" in shown(), shown()
        assert any(r.exc_info for r in caplog.records if "failed unexpectedly" in r.getMessage())
        assert app.crashed is None


async def test_the_gauges_line_masks_a_ledger_errors_text(emulator, emulator_clock):
    from textual.widgets import Static

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await ready(pilot)

        def failing(*args, **kwargs):
            raise RuntimeError(f"redis://user:{KEY}@host refused")

        app.runtime.engine.gauges = failing
        chat.refresh_gauges()
        await pilot.pause()
        shown = str(chat.query_one("#status", Static).content)
        assert "refused" in shown and KEY not in shown


async def test_quota_screen_outlives_a_locked_ledger(emulator, emulator_clock):
    from textual.widgets import Static

    from gemtui.tui.screens.quota import QuotaScreen

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(140, 50)) as pilot:
        await ready(pilot)
        await submit(pilot, "/quota")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        working = app.runtime.engine.gauges

        def locked(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        app.runtime.engine.gauges = locked
        problem = app.screen.query_one("#quota-problem", Static)
        await until(pilot, lambda: problem.display and "database is locked" in str(problem.content), timeout=5)
        assert app.crashed is None
        app.runtime.engine.gauges = working  # the lock goes: the line goes with it
        await until(pilot, lambda: not problem.display, timeout=5)


@pytest.mark.parametrize("name", ["[B]old", '[A="x', "[$x]"])
async def test_palette_help_shows_a_profile_name_as_written(emulator, emulator_clock, name):
    """The palette's help line takes only markup; textual's escape() leaves `[B]` and `[A="` as tags."""
    from textual.command import CommandPalette

    from gemtui.config import Config

    config = Config({"profiles": {name: {"api": "openai", "model": "m1"}}})
    app = make_app(emulator, SharedClock(emulator_clock), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("m", "o", "d", "e", "l", "space", "m", "1")
        palette = app.screen
        await until(pilot, lambda: palette.query_one("CommandList").option_count > 0)
        await pilot.pause(0.3)
        options = palette.query_one("CommandList")
        shown = " ".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
        assert f"profile {name}" in shown, shown
        assert app.crashed is None
