"""A user's own message: literal text with its line breaks, wrapped lazily to the width.

Never parsed as markup or Markdown: what was typed or pasted is what is shown, line for line.

A pasted message can be hundreds of KB. Wrapping all of it at once took tens of milliseconds per
message, and a resize wrapped every message again while the composer waited. So the rows of each
source line are estimated from its length (exact for the lines that fit, which is most of them)
and a line is wrapped for real only when it is drawn, or in short bands once the user pauses
(typing and resizing); the height follows as the estimates are replaced, in one layout. Nothing
is ever cut at the edge: a drawn line is always wrapped at the width it is drawn at.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import re
import time
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from gemtui.tui.textual_compat import visible_widgets, word_breaks

WRAP_BAND_S = 0.002  # idle wrapping yields to the event loop after this long
FIRST_WRAP_S = 0.003  # a message on screen wraps exactly (from its end) for at most this long at a new width
TAB = "    "
# C0/C1 control characters (ANSI escapes included) are shown as a visible stand-in, one cell each.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _shown(line: str) -> str:
    """What a source line looks like on screen: tabs expanded, control characters made visible."""
    if "\t" in line:
        line = line.replace("\t", TAB)
    return CONTROL.sub("\N{REPLACEMENT CHARACTER}", line)


def _wrap(line: str, cells: int, width: int) -> list[int]:
    """Where a line breaks at this width (offsets of the rows after the first), words kept whole.
    With no width at all (a terminal a few columns wide) a line keeps one blank row."""
    if cells <= width or width < 1:
        return []
    return word_breaks(line, width)


class PlainText(Widget):
    """Literal text, wrapped to the widget's width; selectable, copied back as the source."""

    DEFAULT_CSS = "PlainText { height: auto; }"

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text
        self._shown_lines = [_shown(line) for line in text.split("\n")]
        self._cells = [len(line) if line.isascii() else cell_len(line) for line in self._shown_lines]
        self._width = 0
        self._rows: list[int] = []  # rows per source line at _width (estimated until wrapped)
        self._breaks: dict[int, list[int]] = {}  # source line -> its break offsets at _width
        self._starts: list[int] = [0]  # first row of each source line, and the total at the end
        self._refining: asyncio.Task[None] | None = None

    # ---- rows ---------------------------------------------------------------------------------

    def _set_width(self, width: int) -> None:
        """A new width: every line's rows estimated, the last ones wrapped now, the rest later."""
        self._width = width
        self._breaks = {}
        self._rows = [1 if cells <= width or width < 1 else -(-cells // width) for cells in self._cells]
        if self.is_attached and self in visible_widgets(self.screen):
            # On screen before the resize, so likely after: its lines drawn next are wrapped before
            # this layout (the end first: a bottom-anchored view shows it), saving a second layout.
            deadline = time.perf_counter() + FIRST_WRAP_S
            for index in range(len(self._rows) - 1, -1, -1):
                self._wrap_line(index)
                if time.perf_counter() > deadline:
                    break
        self._index()
        if len(self._breaks) < sum(1 for cells in self._cells if cells > width):
            self._refine_later()

    def _wrap_line(self, index: int) -> bool:
        """Wrap one source line exactly; True if its rows changed."""
        if index in self._breaks:
            return False
        breaks = self._breaks[index] = _wrap(self._shown_lines[index], self._cells[index], self._width)
        rows = len(breaks) + 1
        if rows != self._rows[index]:
            self._rows[index] = rows
            return True
        return False

    def _index(self) -> None:
        self._starts = [0, *itertools.accumulate(self._rows)]

    def _refine_later(self) -> None:
        if self._refining is None or self._refining.done():
            self._refining = asyncio.get_running_loop().create_task(self._refine())

    async def _refine(self) -> None:
        """Wrap the estimated lines in short bands, yielding between them and waiting whenever the user
        types or resizes; then lay out once."""
        changed = False
        index = 0
        quiet = getattr(self._conversation(), "quiet", None)
        while index < len(self._rows):
            if quiet is not None:
                await quiet()
            width = self._width
            deadline = time.perf_counter() + WRAP_BAND_S
            while index < len(self._rows) and time.perf_counter() < deadline:
                if self._cells[index] > width:
                    changed = self._wrap_line(index) or changed
                index += 1
            await asyncio.sleep(0)
            if width != self._width or not self.is_attached:  # resized meanwhile: that width has its own pass
                return
        if changed:
            self._index()
            self.refresh(layout=True)

    def _conversation(self) -> Any:
        return next((node for node in self.ancestors if hasattr(node, "reflow_later")), None)

    @property
    def wrapped(self) -> bool:
        """Every line is wrapped exactly at the current width (no estimate left)."""
        return all(index in self._breaks for index, cells in enumerate(self._cells) if cells > self._width)

    def get_content_width(self, container: Any, viewport: Any) -> int:
        return max(self._cells, default=0)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        if width != self._width:
            self._set_width(width)
        return self._starts[-1]

    # ---- drawing ------------------------------------------------------------------------------

    def render_lines(self, crop: Any) -> list[Strip]:
        """Lines about to be drawn are wrapped exactly first; a changed height lays out again."""
        width = self.size.width
        if width and width != self._width:
            self._set_width(width)
        changed = False
        for _ in range(3):  # wrapping shifts the lines below: map the crop again
            first = self._line_at(crop.y)
            last = self._line_at(max(crop.y, crop.bottom - 1))
            now = False
            for index in range(first, last + 1):
                now = self._wrap_line(index) or now
            if not now:
                break
            changed = True
            self._index()
        if changed:
            self.refresh(layout=True)
        return super().render_lines(crop)

    def _line_at(self, y: int) -> int:
        return max(0, min(len(self._rows) - 1, bisect.bisect_right(self._starts, y) - 1))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if not self._rows or y >= self._starts[-1] or not width:
            return Strip.blank(width, base)
        index = self._line_at(y)
        self._wrap_line(index)
        row = y - self._starts[index]
        breaks = self._breaks[index]
        if row > len(breaks):  # the rows changed since layout: blank until laid out again
            return Strip.blank(width, base)
        line = self._shown_lines[index]
        start = breaks[row - 1] if row else 0
        end = breaks[row] if row < len(breaks) else len(line)
        piece = line[start:end] if row == len(breaks) else line[start:end].rstrip()
        segments = self._segments(piece, start, index, base)
        used = sum(segment.cell_length for segment in segments)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments)

    def _segments(self, piece: str, start: int, index: int, base: Style) -> list[Segment]:
        """The piece of line `index` that starts at column `start`, with the selection shown; each
        segment carries its offset in the source line, so a mouse selection maps back to the text."""
        cuts = [0, len(piece)]
        selected = None
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(index)) is not None:
            low, high = span
            high = len(self._shown_lines[index]) if high == -1 else high
            low, high = max(low - start, 0), min(high - start, len(piece))
            if low < high:
                selected = (low, high)
                cuts = sorted({0, low, high, len(piece)})
        style_selected = self.screen.get_component_rich_style("screen--selection") if selected else None
        segments = []
        for a, b in itertools.pairwise(cuts):
            if a == b:
                continue
            style = base + Style.from_meta({"offset": (start + a, index)})
            if selected and selected[0] <= a < selected[1]:
                style = style + style_selected
            segments.append(Segment(piece[a:b], style))
        return segments

    def get_selection(self, selection: Any) -> tuple[str, str] | None:
        if selection.start is None and selection.end is None:
            return self.text, "\n"  # all of it, as typed (extract drops a last empty line)
        return selection.extract(self.text), "\n"

    def selection_updated(self, selection: Any) -> None:
        self.refresh()
