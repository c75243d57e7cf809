"""Quitting with prompts still in the queue: keep them for the next start, cancel them, or go back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def waiting_phrase(count: int) -> str:
    return f"{count} message{'s' if count != 1 else ''} waiting"


class QuitDialog(ModalScreen[str | None]):
    """Dismissed with "keep", "cancel", or None (go back to the chat)."""

    CSS_PATH = ["dialog.tcss", "quit.tcss"]
    BINDINGS = [
        Binding("k", "choose('keep')", "Keep them"),
        Binding("c", "choose('cancel')", "Cancel them"),
        Binding("escape", "choose(None)", "Go back"),
    ]

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def compose(self) -> ComposeResult:
        them = "them" if self.count != 1 else "it"
        with Vertical(id="dialog"):
            yield Static(f"{waiting_phrase(self.count)} to be sent", classes="title", id="quit-title")
            yield Static(
                f"Keep {them} for next time (the next start offers to send {them}), or cancel {them}?", classes="body"
            )
            with Horizontal():
                yield Button("Keep (k)", id="keep", variant="primary")
                yield Button("Cancel them (c)", id="cancel", variant="error")
                yield Button("Go back (Esc)", id="back")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        choice = event.button.id
        self.dismiss(choice if choice in ("keep", "cancel") else None)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
