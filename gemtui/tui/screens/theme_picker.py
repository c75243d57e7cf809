"""/theme with no argument: pick one; the choice is written to the config file."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gemtui.tui.literal import literal


class ThemePicker(ModalScreen[str | None]):
    CSS_PATH = ["dialog.tcss", "theme_picker.tcss"]
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, names: list[str], current: str) -> None:
        super().__init__()
        self.names = sorted(names, key=lambda n: (not n.startswith("gemtui"), n))
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Theme", classes="title")
            # A theme's name comes from its file: shown as it is, never parsed as markup.
            yield OptionList(*[Option(literal(("● " if n == self.current else "  ") + n), id=n) for n in self.names])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.names.index(self.current) if self.current in self.names else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
