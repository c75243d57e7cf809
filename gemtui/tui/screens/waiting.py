"""At start: prompts an earlier gemtui left in the queue (quit with "keep", a crash, kill -9) are
offered, whatever the command line asked for: resume them, cancel them, or leave them for later."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from gemtui.tui.screens.quit import waiting_phrase


@dataclass(frozen=True)
class WaitingGroup:
    """The prompts waiting in one stored conversation."""

    conv_id: int
    title: str
    count: int


class WaitingDialog(ModalScreen[str | None]):
    """Dismissed with "resume" (open the first group's conversation and send), "cancel" (every group),
    or None (leave them waiting: offered again at the next start, sent when their conversation opens)."""

    CSS_PATH = ["dialog.tcss", "waiting.tcss"]
    BINDINGS = [
        Binding("r", "choose('resume')", "Resume them"),
        Binding("c", "choose('cancel')", "Cancel them"),
        Binding("escape", "choose(None)", "Later"),
    ]

    def __init__(self, groups: list[WaitingGroup]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        total = sum(g.count for g in self.groups)
        first = self.groups[0]
        lines = [f"{g.count} in “{g.title}”" for g in self.groups[:5]]
        if len(self.groups) > 5:
            lines.append(f"… and {len(self.groups) - 5} more conversations")
        rest = " (the others stay waiting)" if len(self.groups) > 1 else ""
        with Vertical(id="dialog"):
            yield Static(f"{waiting_phrase(total)} from last time", classes="title", id="waiting-title")
            yield Static(Content("\n".join(lines)), classes="body", id="waiting-list")
            yield Static(
                Content(
                    f"Resume opens “{first.title}” and sends them{rest}; "
                    f"cancel drops all {total}; Esc leaves them for later."
                ),
                classes="hint",
            )
            with Horizontal():
                yield Button("Resume (r)", id="resume", variant="primary")
                yield Button("Cancel them (c)", id="cancel", variant="error")
                yield Button("Later (Esc)", id="later")

    def on_mount(self) -> None:
        self.query_one("#resume", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        choice = event.button.id
        self.dismiss(choice if choice in ("resume", "cancel") else None)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
