"""A yes/no dialog for actions that spend quota (/compact): what it costs is shown before it is sent."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    CSS_PATH = ["dialog.tcss"]
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("escape,n", "answer(False)", "No"),
    ]

    def __init__(
        self, title: str, body: str, note: str = "", *, yes: str = "Send it (y)", no: str = "Cancel (n)"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.note = note
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, classes="title", markup=False)
            yield Static(self.body, classes="body", id="confirm-body", markup=False)
            if self.note:
                yield Static(self.note, classes="hint", markup=False)
            with Horizontal():
                yield Button(self.yes, id="yes", variant="primary")
                yield Button(self.no, id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
