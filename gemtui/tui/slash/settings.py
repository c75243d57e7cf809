"""Slash commands about how the conversation's requests ask: /system and /set (temperature, top_p,
max_output, thinking_budget). Both are stored with the conversation, so `--resume` asks the same; a value
outside its range is refused in one line naming the range (gemtui/generation.py holds the ranges)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gemtui.generation import DEFAULTS_SHOWN, NAMES, RANGES, GenerationSettings, SettingError
from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

SYSTEM_SHOWN = 200  # characters of the system prompt /system shows in its notice


def _conversation_id(ctx: SlashContext) -> int | None:
    """The conversation on screen, started now if there is none yet (settings belong to one)."""
    store = ctx.store
    if store is None:
        ctx.show_info("still starting; try again in a moment", "warning")
        return None
    if ctx.conv_id is None:
        ctx.conv_id = store.create().id
    return ctx.conv_id


def _reread(ctx: SlashContext) -> None:
    session = ctx.session()
    if session is not None:
        session.reread_conversation()


def _defaults(ctx: SlashContext) -> GenerationSettings:
    config = ctx.gemtui_app.config
    return config.generation if config is not None else GenerationSettings()


def settings_lines(ctx: SlashContext) -> list[str]:
    """The conversation's system prompt and generation settings, each saying where it comes from
    (/set, /context)."""
    conv = ctx.store.get(ctx.conv_id) if ctx.store is not None and ctx.conv_id is not None else None
    own = conv.settings if conv is not None else GenerationSettings()
    defaults = _defaults(ctx)
    lines = []
    system = conv.system if conv is not None else None
    lines.append(f"system prompt: {_clip(system)}" if system else "system prompt: none (/system TEXT sets one)")
    for name in NAMES:
        value, default = getattr(own, name), getattr(defaults, name)
        if value is not None:
            lines.append(f"{name}: {value} (this conversation)")
        elif default is not None:
            lines.append(f"{name}: {default} (config default)")
        else:
            lines.append(f"{name}: {DEFAULTS_SHOWN[name]}")
    return lines


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SYSTEM_SHOWN else flat[: SYSTEM_SHOWN - 1] + "…"


async def system(ctx: SlashContext, arg: str) -> None:
    """`/system TEXT` sets the system prompt, `/system` shows it, `/system clear` removes it."""
    if not arg:
        conv = ctx.store.get(ctx.conv_id) if ctx.store is not None and ctx.conv_id is not None else None
        if conv is None or not conv.system:
            ctx.show_info("no system prompt (/system TEXT sets one for this conversation)")
        else:
            ctx.show_info(f"system prompt ({len(conv.system):,} characters): {_clip(conv.system)}")
        return
    conv_id = _conversation_id(ctx)
    if conv_id is None:
        return
    if arg.lower() == "clear":
        ctx.store.set_system(conv_id, None)
        _reread(ctx)
        ctx.show_info("system prompt cleared for this conversation")
    else:
        ctx.store.set_system(conv_id, arg)
        _reread(ctx)
        ctx.show_info(f"system prompt set ({len(arg):,} characters); sent with every request of this conversation")
    await ctx.refresh_marker()


async def set_(ctx: SlashContext, arg: str) -> None:
    """`/set` shows the settings; `/set NAME VALUE` sets one; `/set NAME default` resets it."""
    from gemtui.chat.router import candidates
    from gemtui.generation import check_for_route, parse

    if not arg:
        ctx.show_info(
            "; ".join(settings_lines(ctx)[1:]) + " — /set NAME VALUE changes one, /set NAME default resets it"
        )
        return
    name, _, text = arg.partition(" ")
    name, text = name.strip().lower().replace("-", "_"), text.strip()
    if name not in NAMES:
        ctx.show_info(f"no setting {name!r}: /set takes {', '.join(NAMES)}", "warning")
        return
    if not text:
        ctx.show_info(f"/set {name} VALUE: {RANGES[name]}, or default", "warning")
        return
    note = ""
    if text.lower() == "default":
        value = None
    else:
        try:
            value = parse(name, text)
            note = check_for_route(name, value, candidates(ctx.preference)[1])
        except SettingError as exc:
            ctx.show_info(f"not set: {exc}", "warning")
            return
    conv_id = _conversation_id(ctx)
    if conv_id is None:
        return
    conv = ctx.store.get(conv_id)
    own = conv.settings if conv is not None else GenerationSettings()
    ctx.store.set_settings(conv_id, own.with_value(name, value))
    _reread(ctx)
    if value is None:
        default = getattr(_defaults(ctx), name)
        ctx.show_info(f"{name} back to {default if default is not None else DEFAULTS_SHOWN[name]}")
    else:
        ctx.show_info(f"{name} {value} for this conversation" + (f" ({note})" if note else ""))


SYSTEM = SlashCommand("system", "[text|clear]", "show, set or clear this conversation's system prompt", system)
SET = SlashCommand(
    "set", "[name value]", "show or change temperature, top_p, max_output, thinking_budget for this conversation", set_
)
