"""Edit a queued message before it goes (Ctrl+S saves, Esc keeps it unchanged)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


class EditDialog(ModalScreen[str | None]):
    CSS_PATH = ["dialog.tcss", "edit.tcss"]
    BINDINGS = [Binding("escape", "dismiss_none", "Keep"), Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Edit queued message", classes="title")
            yield TextArea(self.text, id="edit-text", soft_wrap=True)
            with Horizontal():
                yield Button("Save (Ctrl+S)", id="save", variant="primary")
                yield Button("Keep (Esc)", id="keep")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
