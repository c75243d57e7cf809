"""The slash-command registry: every command documented, names unique, unknown names answered in one
line, arguments passed as the text typed; /help and the palette list the registry itself."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from gemtui.tui import slash
from gemtui.tui.screens.chat.chat_task import ChatTask
from gemtui.tui.slash.registry import SlashCommand, SlashRegistry
from tests.tui_helpers import SharedClock, make_app, ready, submit

HOSTILE = ("[/]", "[b", "\x1b[31mred\x1b[0m", "[bold]x[/bold] [link=file:///etc]y[/link]")


class RecordingContext:
    """Just enough of a SlashContext for the registry: what it was told to show."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def show_info(self, text: str, severity: str = "information") -> None:
        self.shown.append(text)


class Capture:
    """A handler that keeps the arguments it was given."""

    def __init__(self) -> None:
        self.args: list[str] = []

    async def __call__(self, _ctx: object, arg: str) -> None:
        self.args.append(arg)


def test_every_registered_command_has_one_line_of_help_and_a_coroutine_handler():
    assert len(slash.REGISTRY) == 22  # /system, /set, /copy, /cache and /open joined the 17
    for command in slash.REGISTRY:
        assert command.help.strip() and "\n" not in command.help, command.name
        assert inspect.iscoroutinefunction(command.handler), command.name
        assert slash.REGISTRY.get(command.name) is command


def test_names_and_aliases_do_not_collide():
    names = slash.REGISTRY.names()
    assert len(names) == len(set(names))
    capture = Capture()
    with pytest.raises(ValueError, match="/n is registered twice"):
        SlashRegistry(
            (
                SlashCommand("new", "", "one", capture, aliases=("n",)),
                SlashCommand("next", "", "two", capture, aliases=("n",)),
            )
        )
    with pytest.raises(ValueError, match="/new is registered twice"):
        SlashRegistry(
            (SlashCommand("new", "", "one", capture), SlashCommand("fresh", "", "two", capture, aliases=("new",)))
        )
    with pytest.raises(ValueError, match="one lower-case word"):
        SlashRegistry((SlashCommand("New", "", "one", capture),))


def test_an_alias_runs_its_command():
    capture = Capture()
    registry = SlashRegistry((SlashCommand("quit", "", "leave", capture, aliases=("exit",)),))
    asyncio.run(registry.run(RecordingContext(), "/exit now"))
    assert capture.args == ["now"]
    assert registry.completions() == [("quit", "leave")]  # the dropdown lists names, not aliases


def test_an_unknown_command_gets_one_line_and_runs_nothing():
    ctx = RecordingContext()
    asyncio.run(slash.REGISTRY.run(ctx, "/modle flash"))
    asyncio.run(slash.REGISTRY.run(ctx, "/zzzzqx"))
    asyncio.run(slash.REGISTRY.run(ctx, "/"))
    assert ctx.shown == [
        "unknown command /modle — did you mean /model? (/help lists them all; nothing was sent)",
        "unknown command /zzzzqx (/help lists them all; nothing was sent)",
        "unknown command / (/help lists them all; nothing was sent)",
    ]


def test_a_hostile_argument_reaches_the_handler_as_the_text_typed():
    capture = Capture()
    registry = SlashRegistry((SlashCommand("echo", "[text]", "say it back", capture),))
    for text in HOSTILE:
        asyncio.run(registry.run(RecordingContext(), f"/echo {text}"))
    assert capture.args == list(HOSTILE)


async def test_hostile_arguments_through_the_composer_are_answered_as_text(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/policy [/]")
        await submit(pilot, "/theme [b")
        await submit(pilot, "/pin [bold]x")
        notes = [str(n.message) for n in app._notifications]
        assert "no policy '[/]': choose /policy switch, wait or ask (on limit stays switch)" in notes
        assert any(n.startswith("no theme '[b'; try ") for n in notes)
        assert "nothing to pin yet" in notes
        await slash.run_slash(chat, "/policy \x1b[31mred")  # an escape typed or pasted past the composer
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications]
        assert any(n.startswith("no policy '\\x1b[31mred'") for n in notes), notes
        assert chat.policy == "switch" and app.is_running


async def test_help_and_the_palette_list_the_registry(emulator, emulator_clock):
    from gemtui.tui.screens.help import help_markdown

    rows = [line for line in help_markdown().splitlines() if line.startswith("| `/")]
    assert [row.split("`")[1].split(" ")[0] for row in rows] == [f"/{c.name}" for c in slash.REGISTRY]
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        provider = slash.slash_provider()(chat, None)
        found = [str(hit.display) async for hit in provider.discover()]
        assert found == [f"/{c.name}" for c in slash.REGISTRY]


class Owner:
    """Stands in for the screen that runs the chat task's worker."""

    def __init__(self) -> None:
        self.started: list[object] = []

    def run_worker(self, work, *, group: str, exit_on_error: bool):
        self.started.append((work, group, exit_on_error))
        work.close()
        return object()


async def _work() -> None:
    return None


def test_one_chat_task_at_a_time():
    task, owner = ChatTask(), Owner()
    assert not task.busy
    assert task.start(owner, _work()) is not None and task.busy
    second = _work()
    assert task.start(owner, second) is None  # refused, and closed (no "never awaited" warning)
    assert second.cr_frame is None and len(owner.started) == 1 and owner.started[0][1] == "send"
    task.finished()
    assert not task.busy and task.start(owner, _work()) is not None


def test_help_names_a_commands_aliases(monkeypatch):
    from gemtui.tui.screens import help as help_screen

    capture = Capture()
    registry = SlashRegistry((SlashCommand("quit", "", "leave gemtui", capture, aliases=("exit", "q")),))
    monkeypatch.setattr(help_screen, "REGISTRY", registry)
    assert "| `/quit` (also `/exit`) (also `/q`) | leave gemtui |" in help_screen.help_markdown()
