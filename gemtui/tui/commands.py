"""The slash-command table, and a command-palette provider that runs the very same actions.

Each command is an async method `cmd_<name>(arg)` on the chat screen (grouped by topic in
`gemtui.tui.screens.chat.*_commands`); the composer, the palette, key bindings and the tests all go
through `run_slash`, so there is one code path per action.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any


@dataclass(frozen=True)
class SlashCommand:
    name: str
    args: str
    help: str
    palette: bool = True  # commands needing an argument still open their picker from the palette


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("model", "[pro|flash|lite|auto|<id>]",
                 "choose the model; no argument opens a picker with gauges"),
    SlashCommand("auth", "", "profiles: list (keys masked), add, switch now, test, remove"),
    SlashCommand("quota", "", "all models, all dimensions, where each limit came from, today's usage"),
    SlashCommand("new", "", "start a new conversation"),
    SlashCommand("sessions", "", "browse, resume or delete stored conversations"),
    SlashCommand("retry", "", "send the last prompt again (after a cut or failed answer)"),
    SlashCommand("clear", "", "clear the screen (the stored conversation stays)"),
    SlashCommand("context", "", "what the next request sends, and what it leaves out"),
    SlashCommand("pin", "[N]", "always send message #N (default: the last one)"),
    SlashCommand("unpin", "[N]", "stop always sending message #N (default: the last one)"),
    SlashCommand("compact", "", "summarise the messages no longer sent (one request; cost shown first)"),
    SlashCommand("export", "[file]", "write this conversation to a Markdown file"),
    SlashCommand("theme", "[name]", "switch theme (remembered); no argument lists themes"),
    SlashCommand("policy", "[switch|wait|ask]", "what auto mode does at a limit"),
    SlashCommand("merge", "", "merge the queued messages into one request (saves RPM)"),
    SlashCommand("help", "", "every command and key binding"),
    SlashCommand("quit", "", "leave gemtui"),
)

BY_NAME = {c.name: c for c in COMMANDS}


def completions() -> list[tuple[str, str]]:
    """(name, hint) pairs for the composer's dropdown."""
    return [(c.name, c.args or c.help) for c in COMMANDS]


def parse(text: str) -> tuple[str, str]:
    """`/model flash` → ("model", "flash")."""
    body = text.strip()[1:]
    name, _, arg = body.partition(" ")
    return name.strip().lower(), arg.strip()


def suggest(name: str) -> str | None:
    """The closest command for an unknown one (prefix first, then edit distance)."""
    import difflib

    prefixed = [c.name for c in COMMANDS if c.name.startswith(name)]
    if prefixed:
        return prefixed[0]
    close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.5)
    return close[0] if close else None


async def run_slash(screen: Any, text: str) -> None:
    """Dispatch a slash command to `screen.cmd_<name>`; unknown ones get a helpful note, never a request."""
    name, arg = parse(text)
    if name not in BY_NAME:
        hint = suggest(name) if name else None
        extra = f" — did you mean /{hint}?" if hint else ""
        screen.show_info(f"unknown command /{name}{extra} (/help lists them all; nothing was sent)")
        return
    await getattr(screen, f"cmd_{name}")(arg)


def slash_provider() -> type:
    """The palette provider class, built on first use (textual.command costs ~35 ms of start-up)."""
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = _build_provider()
    return _PROVIDER


_PROVIDER: type | None = None


def _build_provider() -> type:
    from textual.command import DiscoveryHit, Hit, Hits, Provider

    class SlashCommandProvider(Provider):
        """The palette (Ctrl+P) lists the slash commands and runs them through the same handlers."""

        def _screen(self) -> Any:
            from gemtui.tui.screens.chat import ChatScreen

            for screen in reversed(self.app.screen_stack):
                if isinstance(screen, ChatScreen):
                    return screen
            return None

        async def _run(self, name: str) -> None:
            screen = self._screen()
            if screen is not None:
                await run_slash(screen, f"/{name}")

        async def discover(self) -> Hits:
            for command in COMMANDS:
                yield DiscoveryHit(f"/{command.name}", partial(self._run, command.name), help=command.help)

        async def search(self, query: str) -> Hits:
            matcher = self.matcher(query)
            for command in COMMANDS:
                label = f"/{command.name}"
                score = max(matcher.match(label), matcher.match(command.help) * 0.5)
                if score > 0:
                    run = partial(self._run, command.name)
                    yield Hit(score, matcher.highlight(label), run, help=command.help)

    return SlashCommandProvider
