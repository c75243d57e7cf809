"""Policy `ask`: the preferred model hit a limit — switch now, wait for it (with its ETA), or cancel.

The wait counts down while the dialog is open, from the same clock as the rest of the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
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

    def __init__(self, event: Any, now: Callable[[], float]) -> None:
        """`now` reads the chat screen's clock (the engine's), so the countdown agrees with the rest."""
        super().__init__()
        self.event = event
        self.now = now

    def _body(self, now: float) -> Content:
        ev = self.event
        left = ev.until - now
        free = f"is free in {duration(left)} (at {local_time(ev.until)})" if left > 0 else "is free again"
        return Content(f"{ev.reason}.\n{ev.alternative} can answer now; {ev.preferred} {free}.")

    def _wait_label(self, now: float) -> Content:
        left = self.event.until - now
        return Content(f"Wait {duration(left)} (w)" if left > 0 else "Wait: free now (w)")

    def compose(self) -> ComposeResult:
        ev = self.event
        now = self.now()
        with Vertical(id="dialog"):
            yield Static(Content(f"{ev.preferred} is at a limit"), classes="title")
            yield Static(self._body(now), classes="body", id="ask-body")
            with Horizontal():
                yield Button(Content(f"Switch to {ev.alternative} (s)"), id="switch", variant="primary")
                yield Button(self._wait_label(now), id="wait")
                yield Button("Cancel (c)", id="cancel", variant="error")

    def on_mount(self) -> None:
        self.query_one("#switch", Button).focus()
        self.set_interval(getattr(self.app, "clock_tick_s", 1.0), self.tick)

    def tick(self) -> None:
        """~1 Hz: the wait shown in the text and on the Wait button counts down."""
        now = self.now()
        body = self.query_one("#ask-body", Static)
        text = self._body(now)
        if str(body.content) != str(text):
            body.update(text)
        button = self.query_one("#wait", Button)
        label = self._wait_label(now)
        if str(button.label) != str(label):
            button.label = label

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
