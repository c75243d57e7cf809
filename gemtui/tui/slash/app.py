"""Slash commands about the app rather than the conversation: /theme, /help, /quit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext


async def theme(ctx: SlashContext, arg: str) -> None:
    app = ctx.gemtui_app
    names = sorted(n for n in app.available_themes if n.startswith("gemtui"))
    if not arg:
        from gemtui.tui.screens.theme_picker import ThemePicker

        def picked(name: str | None) -> None:
            if name:
                apply_theme(ctx, name)

        ctx.push_screen(ThemePicker(sorted(app.available_themes), app.theme), picked)
        return
    if arg not in app.available_themes:
        ctx.show_info(f"no theme {arg!r}; try {', '.join(names)}", "warning")
        return
    apply_theme(ctx, arg)


def apply_theme(ctx: SlashContext, name: str) -> None:
    ctx.gemtui_app.remember_theme(name)
    ctx.quota_panel.repaint()
    ctx.show_info(f"theme: {name}")


async def help_(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.help import HelpScreen

    ctx.push_screen(HelpScreen())


async def quit_(ctx: SlashContext, _arg: str) -> None:
    """Like Ctrl+Q: asks first when prompts wait in the queue."""
    await ctx.gemtui_app.action_quit()


THEME = SlashCommand("theme", "[name]", "switch theme (remembered); no argument lists themes", theme)
HELP = SlashCommand("help", "", "every command and key binding", help_)
QUIT = SlashCommand("quit", "", "leave gemtui", quit_)
