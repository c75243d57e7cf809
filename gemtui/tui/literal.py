"""Text that came from a user, a model, a file, a server or a config, made safe to show.

Textual parses a plain `str` given to most widgets (and Rich parses a DataTable cell) as markup, so
`[/]` in a prompt crashed the app and `[@click=app.quit]` in a title was a button. What is shown here is
a `Content` or a `rich.text.Text` built from the string itself: shown as typed, never interpreted.

Control characters would reach the terminal as they are (an ESC starts an escape sequence that can
recolour or retitle it), so the widgets show them as visible symbols, and a line filter drops any that
still arrive in drawn lines (a Markdown body, a text area) before the terminal sees them.
"""

from __future__ import annotations

import re
from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.content import Content
from textual.filter import LineFilter

# C0 controls except tab and newline, DEL, and the C1 controls (0x9b is a one-byte CSI).
_SHOWN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Everything a terminal would act on, tab and newline included (a drawn line has neither).
_DRAWN_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟, the Unicode control pictures
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1: no picture of its own


def visible(value: Any) -> str:
    """`value` as a string whose control characters (but tab and newline) are visible symbols."""
    text = value if isinstance(value, str) else str(value)
    return _SHOWN_CONTROL.sub(_picture, text)


def literal(value: Any) -> Content:
    """Content for a widget, a notice or an option: the text as it is, never parsed as markup."""
    return Content(visible(value))


def as_markup(value: Any) -> str:
    """Markup that Textual parses back to exactly `value`, for the few APIs that take nothing but markup
    (the command palette's help line). textual.markup.escape leaves `[B]` or `[A="` as tags; a backslash
    before every `[` makes each one a literal bracket, whatever follows it."""
    return visible(value).replace("[", "\\[")


def cell(value: Any) -> Text:
    """A DataTable cell (a plain `str` cell is parsed as Rich markup)."""
    return Text(visible(value), end="")


class DropControlCharacters(LineFilter):
    """The last guard before the terminal: control characters in a drawn line's text are removed.

    They are zero cells wide to Rich, so removing them leaves every line its width."""

    def apply(self, segments: list[Segment], background: Any) -> list[Segment]:
        if not any(_DRAWN_CONTROL.search(text) for text, _style, control in segments if not control):
            return segments
        cleaned = []
        for segment in segments:
            text, style, control = segment
            if not control and _DRAWN_CONTROL.search(text):
                text = _DRAWN_CONTROL.sub("", text)
                if not text:
                    continue
                segment = Segment(text, style, control)
            cleaned.append(segment)
        return cleaned


DROP_CONTROL = DropControlCharacters()
