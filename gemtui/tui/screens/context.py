"""/context: what the next request sends for the preferred model, and what the budget leaves out.

The chat screen makes the lines (`gemtui.tui.slash.sending.context_lines`) from the very planner its send path
uses, so this screen cannot disagree with what is sent.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class ContextScreen(Screen[None]):
    CSS_PATH = "context.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="context-body"):
            yield Static("Context", classes="title")
            yield Static("\n".join(self.lines), classes="report", id="context-report", markup=False)
            yield Static(
                "The system prompt, pinned messages and the newest turns are sent; the oldest are "
                "left out first. /pin N keeps message #N in every request; /compact summarises "
                "the left-out part (one request, shown before it is sent). Esc back.",
                classes="hint",
            )
        yield Footer()
