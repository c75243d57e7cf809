"""Policy `ask`: the preferred model hit a limit — switch now, wait for it (with its ETA), or cancel."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from gemtui.timefmt import duration, local_time


class AskDialog(ModalScreen[str]):
    CSS_PATH = ["dialog.tcss", "ask.tcss"]
    BINDINGS = [
        Binding("s", "choose('switch')", "Switch now"),
        Binding("w", "choose('wait')", "Wait"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, event: Any, now: float) -> None:
        super().__init__()
        self.event = event
        self.now = now

    def compose(self) -> ComposeResult:
        ev = self.event
        wait = f"{duration(ev.until - self.now)} (at {local_time(ev.until)})"
        with Vertical(id="dialog"):
            yield Static(f"{ev.preferred} is at a limit", classes="title")
            yield Static(f"{ev.reason}.\n{ev.alternative} can answer now; {ev.preferred} is free in {wait}.",
                         classes="body")
            with Horizontal():
                yield Button(f"Switch to {ev.alternative} (s)", id="switch", variant="primary")
                yield Button(f"Wait {duration(ev.until - self.now)} (w)", id="wait")
                yield Button("Cancel (c)", id="cancel", variant="error")

    def on_mount(self) -> None:
        self.query_one("#switch", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
