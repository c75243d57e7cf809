"""/auth: the key this session sends with (masked), every profile, and switching the active one.

Switching writes the active profile to the config file; it applies from the next start (a running
conversation keeps the quota ledger of the project it began with).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from gemtui.errors import mask


class AuthScreen(Screen[None]):
    CSS_PATH = "auth.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("u", "use", "Make active")]

    def __init__(self, runtime: Any) -> None:
        super().__init__()
        self.runtime = runtime

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="auth-body"):
            yield Static(self._current(), classes="title", id="auth-current")
            yield DataTable(id="auth-table", cursor_type="row")
            yield Static("u make the highlighted profile active (from the next start) · "
                         "`gemtui auth add NAME` adds one · Esc back", classes="hint", id="auth-hint")
        yield Footer()

    def _current(self) -> str:
        rt = self.runtime
        if rt is None:
            return "not connected: no key found (gemtui auth add NAME, GEMINI_API_KEY, or gemtui --demo)"
        endpoint = "bundled emulator" if rt.profile_name == "demo" else (rt.endpoint and "custom endpoint"
                                                                         or "official API")
        return (f"sending as {rt.profile_name} · key {mask(rt.api_key)} · {endpoint} · "
                f"project {rt.project} · tier {rt.tier}")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "profile", "key", "endpoint", "tier", "project", "backup")
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        try:
            from gemtui.auth.manage import list_profile_views

            views = list_profile_views()
        except Exception as exc:
            self.query_one("#auth-hint", Static).update(f"profiles unavailable: {exc}")
            return
        for v in views:
            table.add_row("●" if v.active else "", v.name, v.key, v.endpoint, v.tier, v.project,
                          v.backup or "", key=v.name)

    def action_use(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        try:
            from gemtui.auth.manage import use_profile

            use_profile(name)
        except Exception as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"{name} is now the active profile (applies from the next start)")
        self._fill()
