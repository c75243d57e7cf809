"""/model with no argument: each model with its live gauges, so the choice is an informed one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gemtui.log import get_logger
from gemtui.tui.widgets.gauges import compact_line, style_for

logger = get_logger(__name__)

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext


def model_choices(chat: SlashContext, current: str) -> list[tuple[str, str]]:
    """Every model `/model` can choose, as (id, note): the palette lists the same."""
    from gemtui.chat.models import offered_models, picker_choices
    from gemtui.runtime_links import profile_models

    runtime = chat.runtime
    others = profile_models(runtime.config, runtime.profile_name) if runtime is not None else []
    return picker_choices(current, offered_models(runtime), others)


class ModelPicker(ModalScreen[str | None]):
    CSS_PATH = ["dialog.tcss", "model_picker.tcss"]
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, chat: SlashContext, current: str) -> None:
        super().__init__()
        self.chat = chat
        self.current = current
        self.choices = model_choices(chat, current)  # read once: the list, then the highlight, use it

    def compose(self) -> ComposeResult:
        runtime = self.chat.runtime
        choices = self.choices
        gauges: dict[str, Any] = {}
        if runtime is not None:
            try:
                gauges = runtime.engine.gauges(runtime.project, [c for c, _ in choices if c != "auto"])
            except Exception:  # a locked or damaged ledger: the list without usage
                logger.exception("reading the gauges for the model list failed")
                gauges = {}
        now = self.chat.now
        options = []
        for model, note in choices:
            label = Text(("● " if model == self.current else "  ") + f"{model:<24}", style="bold")
            if model != "auto":
                text, lvl = compact_line(model, gauges.get(model, {}), now)
                label.append(text, style=style_for(self.app, lvl))
            else:
                label.append(note, style="dim")
            options.append(Option(label, id=model))
        with Vertical(id="dialog"):
            yield Static("Model", classes="title")
            yield OptionList(*options)
            yield Static("Enter choose · Esc close · /model <id> for any other model", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [c for c, _ in self.choices]
        options.highlighted = ids.index(self.current) if self.current in ids else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
