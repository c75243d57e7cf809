"""The slash-command registry: each command is one `SlashCommand` (name, aliases, argument hint, help
text, handler), and the composer's completions, the palette, /help and key bindings all read it.

A handler is `async def handler(ctx: SlashContext, arg: str) -> None`: it receives the declared
context (`gemtui.tui.slash.context`), never the screen's internals, and `arg` as typed (text, never
markup).
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

Handler = Callable[["SlashContext", str], Awaitable[None]]


@dataclass(frozen=True)
class SlashCommand:
    """One slash command: `/name` (or one of its aliases) runs `handler(ctx, arg)`."""

    name: str
    args: str  # the argument hint shown in completions and /help ("[N]", "[file]"; "" for none)
    help: str
    handler: Handler
    aliases: tuple[str, ...] = ()


class SlashRegistry:
    """The commands in the order /help and the palette list them; names and aliases are unique."""

    def __init__(self, commands: Iterable[SlashCommand]) -> None:
        self._commands = tuple(commands)
        self._by_name: dict[str, SlashCommand] = {}
        for command in self._commands:
            for name in (command.name, *command.aliases):
                if not name or name != name.lower() or " " in name:
                    raise ValueError(f"/{name}: a command name is one lower-case word")
                if name in self._by_name:
                    raise ValueError(f"/{name} is registered twice")
                self._by_name[name] = command

    def __iter__(self) -> Iterator[SlashCommand]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    def get(self, name: str) -> SlashCommand | None:
        """The command `name` names (its own name or an alias)."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        """Every name and alias that runs a command."""
        return list(self._by_name)

    def completions(self) -> list[tuple[str, str]]:
        """(name, hint) pairs for the composer's dropdown."""
        return [(c.name, c.args or c.help) for c in self._commands]

    def suggest(self, name: str) -> str | None:
        """The closest command for an unknown one (prefix first, then edit distance)."""
        prefixed = [c.name for c in self._commands if c.name.startswith(name)]
        if prefixed:
            return prefixed[0]
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.5)
        return close[0] if close else None

    async def run(self, ctx: SlashContext, text: str) -> None:
        """Run `/name arg`; an unknown name gets one helpful line, never a request."""
        name, arg = parse(text)
        command = self.get(name)
        if command is None:
            hint = self.suggest(name) if name else None
            extra = f" — did you mean /{hint}?" if hint else ""
            ctx.show_info(f"unknown command /{name}{extra} (/help lists them all; nothing was sent)")
            return
        try:
            await command.handler(ctx, arg)
        except Exception as exc:  # one command's bug or bad luck is one line, never the app's end
            from gemtui.errors import one_line
            from gemtui.log import get_logger

            get_logger(__name__).exception("/%s failed", name)
            ctx.show_info(f"/{name} failed: {one_line(exc)} (details in the log)", "error")


def parse(text: str) -> tuple[str, str]:
    """`/model flash` → ("model", "flash")."""
    body = text.strip()[1:]
    name, _, arg = body.partition(" ")
    return name.strip().lower(), arg.strip()
