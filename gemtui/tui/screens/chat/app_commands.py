"""Slash commands about the app rather than the conversation: /theme, /help, /quit."""

from __future__ import annotations

from typing import Any


class AppCommands:
    """Part of ChatScreen."""

    async def cmd_theme(self, arg: str) -> None:
        app: Any = self.app
        names = sorted(n for n in app.available_themes if n.startswith("gemtui"))
        if not arg:
            from gemtui.tui.screens.theme_picker import ThemePicker

            def picked(name: str | None) -> None:
                if name:
                    self._apply_theme(name)

            self.app.push_screen(ThemePicker(sorted(app.available_themes), app.theme), picked)
            return
        if arg not in app.available_themes:
            self.show_info(f"no theme {arg!r}; try {', '.join(names)}", "warning")
            return
        self._apply_theme(arg)

    def _apply_theme(self, name: str) -> None:
        app: Any = self.app
        app.remember_theme(name)
        self.quota_panel.repaint()
        self.show_info(f"theme: {name}")

    async def cmd_help(self, _arg: str) -> None:
        from gemtui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    async def cmd_quit(self, _arg: str) -> None:
        self.app.exit(0)
