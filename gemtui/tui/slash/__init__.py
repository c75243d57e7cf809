"""Slash commands: registered handler objects that receive a declared context.

`REGISTRY` lists every command in the order /help, the palette and the composer's completions show
them. To add one: write `async def handler(ctx: SlashContext, arg: str) -> None` in the module of its
group (using only what `SlashContext` declares), wrap it in a `SlashCommand(name, args, help,
handler, aliases=())` there, and add that object to `REGISTRY` below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gemtui.tui.slash import app, conversation, copy, files, routing, sending, settings
from gemtui.tui.slash.registry import SlashCommand, SlashRegistry, parse

if TYPE_CHECKING:
    from textual.command import Provider

    from gemtui.tui.slash.context import SlashContext

REGISTRY = SlashRegistry(
    (
        routing.MODEL,
        routing.AUTH,
        routing.QUOTA,
        conversation.NEW,
        conversation.SESSIONS,
        conversation.RETRY,
        conversation.CLEAR,
        sending.CONTEXT,
        sending.PIN,
        sending.UNPIN,
        sending.COMPACT,
        settings.SYSTEM,
        settings.SET,
        copy.COPY,
        sending.CACHE,
        conversation.EXPORT,
        files.OPEN,
        app.THEME,
        routing.POLICY,
        conversation.MERGE,
        app.HELP,
        app.QUIT,
    )
)


async def run_slash(ctx: SlashContext, text: str) -> None:
    """Run a typed `/command arg` (the composer, the palette, key bindings and tests all come here)."""
    await REGISTRY.run(ctx, text)


def slash_provider() -> type[Provider]:
    """The palette provider, imported on first use (textual.command costs start-up time)."""
    from gemtui.tui.slash.palette import SlashCommandProvider

    return SlashCommandProvider


def model_provider() -> type[Provider]:
    """The palette's models, imported on first use like the commands."""
    from gemtui.tui.slash.palette import ModelProvider

    return ModelProvider


__all__ = ["REGISTRY", "SlashCommand", "SlashRegistry", "model_provider", "parse", "run_slash", "slash_provider"]
