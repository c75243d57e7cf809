"""The composer: multi-line prompt, Enter sends, Shift/Alt+Enter or Ctrl+J new line, Up recalls.

Typing `/` opens a dropdown of matching slash commands above the input; Tab (or Enter on a
partial name) completes, Up/Down move through it, Esc closes it. Enter on a full name, or on a name
with its argument, runs the line as typed. A word starting with `@` (a file to attach) opens the same
dropdown with the files and folders it may name; Tab completes (a folder then lists its own), Enter
sends. The dropdown is made the first time it is needed: the composer is part of the first frame, the
dropdown is not.
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

    def on_key(self, event: events.Key) -> None:
        """Runs before TextArea's own key handling, which `prevent_default` skips for the keys the
        composer takes (Textual calls each class's key handler in turn, subclass first)."""
        if self.composer.intercept_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")


class Composer(Vertical):
    """Holds the prompt area and the slash-command dropdown; posts PromptSubmitted."""

    DEFAULT_CSS = """
    Composer { height: auto; }
    Composer OptionList { height: auto; max-height: 8; display: none; border: round $accent; }
    Composer OptionList.-open { display: block; }
    """

    def __init__(self, completions: Callable[[], list[tuple[str, str]]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._completions = completions or (lambda: [])  # (name, hint) of every slash command
        self.history: list[str] = []
        self._paths: list[tuple[str, bool]] = []  # the `@path` completions shown, when they are
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
        return [(name, hint) for name, hint in self._completions() if name.startswith(text[1:].lower())]

    def _completes_on_enter(self, text: str) -> bool:
        """Whether Enter with the dropdown open completes rather than runs: only for a partial name.

        The dropdown follows the text a message later, so typed fast (or pasted) `/quota` or
        `/model flash` can meet Enter while it still shows the matches of `/q` or `/mo`. A line that
        names a command in full, or has an argument after the name, runs as typed."""
        stripped = text.strip()
        if not stripped.startswith("/") or any(c.isspace() for c in stripped):
            return False
        return not any(stripped == f"/{name}" for name, _hint in self._matches(stripped))

    def _mention(self) -> str | None:
        """The `@…` word the cursor ends (without the `@`), if it is one."""
        area = self.area
        before = area.document.get_text_range((0, 0), area.cursor_location)
        word = before.rsplit(None, 1)[-1] if before and not before[-1].isspace() else ""
        return word[1:] if word.startswith("@") and not word.startswith('@"') else None

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        matches = self._matches(self.text)
        mention = None if matches else self._mention()
        if mention is not None:
            from gemtui.chat.attachments import path_completions

            self._paths = path_completions(mention)
            if self._paths == [(mention, False)]:
                self._paths = []  # the word already names the one file
        else:
            self._paths = []
        if self.query("#completions"):
            dropdown = self.dropdown
        elif matches or self._paths:  # made the first time it has something to show
            from textual.widgets import OptionList

            dropdown = OptionList(id="completions")
            self.mount(dropdown, before=self.area)
        else:
            return
        if matches and not (len(matches) == 1 and "/" + matches[0][0] == self.text):
            from textual.content import Content
            from textual.widgets.option_list import Option

            # Built as Content: a hint like `[pro|flash|lite|auto|<id>]` is text, not a markup tag.
            dropdown.set_options(
                [Option(Content.assemble(f"/{name}  ", (hint, "dim")), id=name) for name, hint in matches]
            )
            dropdown.highlighted = 0
            dropdown.add_class("-open")
        elif self._paths:
            from textual.content import Content
            from textual.widgets.option_list import Option

            # A file name is text: `[/]` or an escape in one is shown as it is, never interpreted.
            from gemtui.tui.literal import visible

            dropdown.set_options(
                [
                    Option(Content.assemble(visible(f"@{path}"), ("  folder" if is_dir else "", "dim")))
                    for path, is_dir in self._paths
                ]
            )
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
        if self._paths:
            self._complete_path(self._paths[min(index, len(self._paths) - 1)])
            return
        if dropdown.option_count:
            option = dropdown.get_option_at_index(index)
            self.set_text(f"/{option.id} ")
        dropdown.remove_class("-open")

    def _complete_path(self, entry: tuple[str, bool]) -> None:
        """Replace the `@…` word before the cursor by the chosen path (a file ends the word; a folder
        stays open, so its entries are offered next)."""
        path, is_dir = entry
        area = self.area
        mention = self._mention() or ""
        end = area.cursor_location
        start = (end[0], end[1] - len(mention) - 1)
        word = f'@"{path}"' if " " in path and not is_dir else f"@{path}"
        area.replace(word + ("" if is_dir else " "), start, end)
        self.dropdown.remove_class("-open")

    def on_option_list_option_selected(self, event: Any) -> None:
        event.stop()
        if self._paths:
            self._complete_path(self._paths[min(event.option_index, len(self._paths) - 1)])
            self.area.focus()
            return
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
            if key == "enter" and self._completes_on_enter(self.text):
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
