"""Slash commands about where and how prompts are sent: /model, /policy, /auth (and the profile
switch it makes), /quota."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class ModelCommands:
    """Part of ChatScreen: the model preference, the at-a-limit policy, the profile (runtime) in use."""

    async def cmd_model(self, arg: str) -> None:
        from gemtui.quota.limits import resolve_model

        if not arg:
            from gemtui.tui.screens.model_picker import ModelPicker

            def picked(choice: str | None) -> None:
                if choice:
                    self._set_preference(choice)

            self.app.push_screen(ModelPicker(self, self.preference), picked)
            return
        choice = arg.split()[0].lower()
        self._set_preference("auto" if choice == "auto" else resolve_model(choice))

    def _set_preference(self, preference: str) -> None:
        self.preference = preference
        self._update_title()
        self.refresh_gauges()
        note = " (Pro first, falls back at a limit)" if preference == "auto" else ""
        self.show_info(f"model: {preference}{note}")
        self.call_later(self.refresh_marker)  # another model, another budget

    async def cmd_policy(self, arg: str) -> None:
        if arg not in ("switch", "wait", "ask"):
            self.show_info(f"on limit: {self.policy} (choose /policy switch, wait or ask)")
            return
        self.policy = arg
        self._update_title()
        self.show_info(f"at a limit auto mode will now {arg}")

    async def cmd_auth(self, _arg: str) -> None:
        from gemtui.tui.screens.auth import AuthScreen

        self.app.push_screen(AuthScreen(self))

    async def switch_profile(self, name: str) -> str | None:
        """Send as profile `name` from now on: it becomes the active profile, the runtime is rebuilt
        for it (its key, endpoint, tier, project ledger, backup), and a prompt still waiting for the old
        profile's quota is re-evaluated against the new one. Returns why not, in one line."""
        from gemtui.auth import resolve_profile, use_profile
        from gemtui.chat.runtime import runtime_for_profile
        from gemtui.config import load_config
        from gemtui.errors import one_line

        app: Any = self.app
        # the engine's clock carries over (time is a parameter: tests run the app on a simulated one)
        clock = getattr(getattr(self.runtime, "engine", None), "clock", None)
        try:
            config = load_config()
            profile = resolve_profile(name, config=config)
            runtime = runtime_for_profile(profile, app.config if app.config is not None else config, clock=clock)
            use_profile(name)
        except Exception as exc:  # no keyring, locked keyring, missing key: one line
            return one_line(exc)
        app.runtime, app.runtime_error = runtime, None
        self.query_one("#runtime-error", Static).display = False
        self._session = None  # the budget follows the new project's TPM
        self._levels.clear()
        if self._worker is not None and not self._routed:
            self.stop_sending(requeue=True)  # waiting for the old profile's quota: back to the queue
        self._update_title()
        self.refresh_gauges()
        await self.refresh_queue()
        self.call_later(self.pump)
        self.call_later(self.refresh_marker)
        return None

    async def cmd_quota(self, _arg: str) -> None:
        from gemtui.tui.screens.quota import QuotaScreen

        if self.runtime is None:
            self.show_info("not connected: no quota to show", "warning")
            return
        self.app.push_screen(QuotaScreen(self.runtime, self.store))
