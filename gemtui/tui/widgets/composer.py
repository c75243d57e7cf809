"""The composer: multi-line prompt, Enter sends, Shift/Alt+Enter or Ctrl+J new line, Up recalls.

Typing `/` opens a dropdown of matching slash commands above the input; Tab (or Enter on a
partial name) completes, Up/Down move through it, Esc closes it. The dropdown is made the first
time it is needed: the composer is part of the first frame, the dropdown is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import TextArea

from gemtui.tui.messages import PromptSubmitted

NEWLINE_KEYS = ("shift+enter", "alt+enter", "ctrl+j")


class PromptArea(TextArea):
    """TextArea whose Enter submits; history recall on Up at the first line."""

    DEFAULT_CSS = """
    PromptArea { height: auto; min-height: 3; max-height: 10; border: tall $primary 40%; }
    PromptArea:focus { border: tall $primary; }
    """

    def __init__(self, composer: Composer, **kwargs: Any) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, **kwargs)
        self.composer = composer

    async def _on_key(self, event: events.Key) -> None:
        if self.composer.intercept_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


class Composer(Vertical):
    """Holds the prompt area and the slash-command dropdown; posts PromptSubmitted."""

    DEFAULT_CSS = """
    Composer { height: auto; }
    Composer OptionList { height: auto; max-height: 8; display: none; border: round $accent; }
    Composer OptionList.-open { display: block; }
    """

    def __init__(self, commands: Callable[[], list[tuple[str, str]]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._commands = commands or (lambda: [])
        self.history: list[str] = []
        self._history_pos: int | None = None
        self._draft = ""

    def compose(self) -> ComposeResult:
        yield PromptArea(self, id="prompt")

    @property
    def area(self) -> PromptArea:
        return self.query_one(PromptArea)

    @property
    def dropdown(self) -> Any:
        """The completion dropdown (an OptionList); it exists once `/` has been typed."""
        return self.query_one("#completions")

    @property
    def text(self) -> str:
        return self.area.text

    def set_text(self, text: str) -> None:
        self.area.load_text(text)
        self.area.move_cursor(self.area.document.end)

    # ---- completion ------------------------------------------------------------------------------

    def _matches(self, text: str) -> list[tuple[str, str]]:
        if not text.startswith("/") or " " in text or "\n" in text:
            return []
        return [(name, hint) for name, hint in self._commands() if name.startswith(text[1:].lower())]

    def _names_a_command(self, text: str) -> bool:
        """`/quota` typed out in full: Enter runs it, even if the dropdown (which follows the text a
        message later) still shows the matches of a shorter prefix."""
        return any(text.strip() == f"/{name}" for name, _hint in self._matches(text.strip()))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        matches = self._matches(self.text)
        if self.query("#completions"):
            dropdown = self.dropdown
        elif matches:  # made the first time it has something to show
            from textual.widgets import OptionList

            dropdown = OptionList(id="completions")
            self.mount(dropdown, before=self.area)
        else:
            return
        if matches and not (len(matches) == 1 and "/" + matches[0][0] == self.text):
            from textual.widgets.option_list import Option

            dropdown.set_options([Option(f"/{name}  [dim]{hint}[/]", id=name) for name, hint in matches])
            dropdown.highlighted = 0
            dropdown.add_class("-open")
        else:
            dropdown.remove_class("-open")

    @property
    def dropdown_open(self) -> bool:
        found = self.query("#completions")
        return bool(found) and found.first().has_class("-open")

    def _complete(self) -> None:
        dropdown = self.dropdown
        index = dropdown.highlighted or 0
        if dropdown.option_count:
            option = dropdown.get_option_at_index(index)
            self.set_text(f"/{option.id} ")
        dropdown.remove_class("-open")

    def on_option_list_option_selected(self, event: Any) -> None:
        event.stop()
        self.set_text(f"/{event.option.id} ")
        self.dropdown.remove_class("-open")
        self.area.focus()

    # ---- keys ------------------------------------------------------------------------------------

    def intercept_key(self, key: str) -> bool:
        """Keys the composer owns before the TextArea sees them; True when handled."""
        area = self.area
        if self.dropdown_open:
            dropdown = self.dropdown
            if key == "tab":
                self._complete()
                return True
            if key in ("up", "down"):
                count = dropdown.option_count
                current = dropdown.highlighted or 0
                dropdown.highlighted = (current + (1 if key == "down" else -1)) % max(1, count)
                return True
            if key == "escape":
                dropdown.remove_class("-open")
                return True
            if key == "enter" and not self._names_a_command(self.text):
                self._complete()
                return True
        if key == "enter":
            text = self.text.strip()
            if text:
                self.submit(text)
            return True
        if key == "up" and area.cursor_location[0] == 0 and self.history:
            self._recall(-1)
            return True
        last_line = area.cursor_location[0] == area.document.line_count - 1
        if key == "down" and self._history_pos is not None and last_line:
            self._recall(+1)
            return True
        return False

    def _recall(self, step: int) -> None:
        if self._history_pos is None:
            if step > 0:
                return
            self._draft = self.text
            self._history_pos = len(self.history)
        pos = self._history_pos + step
        if pos >= len(self.history):
            self._history_pos = None
            self.set_text(self._draft)
            return
        self._history_pos = max(0, pos)
        self.set_text(self.history[self._history_pos])

    def submit(self, text: str) -> None:
        if not self.history or self.history[-1] != text:
            self.history.append(text)
        self._history_pos = None
        self.area.clear()
        if self.dropdown_open:
            self.dropdown.remove_class("-open")
        self.post_message(PromptSubmitted(text))
