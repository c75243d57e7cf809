"""AnswerBlock: a Markdown block of a message which, once finished, keeps only its drawn lines.

Imported with the first message, not at start-up (`conversation.answer_block`): Markdown and
markdown-it stay out of first paint.

Why: Textual walks every displayed widget on every layout and repaints the scrolling conversation
each frame while the view follows an answer, so a long answer (thousands of paragraph, list-row and
fence widgets, each with styles and render caches) made every frame slower and kept hundreds of
thousands of objects alive for the garbage collector to walk. A finished block's lines depend only
on its source, its width and the theme, so once it has been laid out it renders itself once into
`Strip`s (the same lines Textual would draw) and drops its child widgets. A finished block of a
streamed answer then hands its lines to the captured block before it and leaves: one widget and a
list of lines per message, however long. A different width or theme rebuilds the children from the
source (part by part, as the answer streamed) and captures again. The lines keep their link
actions, and text can still be selected in them (by line and column of what is drawn).

A block with a code line wider than the view stays live: its fence scrolls sideways.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Markdown

from gemtui.tui.textual_compat import forget_children, layout_pending, selection_offset, widget_alone
from gemtui.tui.widgets.conversation import CAPTURE_BAND, Conversation

Line = tuple[tuple[Segment, ...], int]  # a captured line: its segments and its cell length
MERGE_POLL_S = 0.05  # how often a block waiting to merge into the one before looks again
MERGE_WAITS = 40  # and how many times, before it is captured on its own


def fold_starts(used: list[int], width: int) -> list[int]:
    """First row of each captured line folded at `width`, and the total at the end. A block laid out
    with no width (a terminal a few columns wide) keeps one row per line rather than none."""
    width = max(1, width)
    return [0, *itertools.accumulate(max(1, -(-cells // width)) for cells in used)]


def fold_line(lines: list[Line], used: list[int], starts: list[int], y: int, width: int, base: Style) -> Strip:
    """Row `y` of captured lines cut into pieces of `width` cells: what a block shows between a
    resize and its rebuild (nothing cut at the edge, the styles kept, only the word breaks lost).
    Each piece keeps its offset in the captured line, so a selection still maps to the text."""
    index = bisect.bisect_right(starts, y) - 1
    if not 0 <= index < len(lines) or not width:
        return Strip.blank(width, base)
    low = (y - starts[index]) * width
    high = min(low + width, used[index])
    out, pos = [], 0
    for segment in lines[index][0]:
        cells = segment.cell_length
        if pos + cells > low and pos < high:
            out.append(_cut(segment, pos, low, high))
        elif pos >= high:
            break
        pos += cells
    return Strip(out).extend_cell_length(width, base)


def _cut(segment: Segment, pos: int, low: int, high: int) -> Segment:
    """The part of `segment` (starting at cell `pos` of its line) between cells `low` and `high`,
    its selection offset moved by the characters cut off its start."""
    piece, skipped = segment, 0
    if pos < low:
        head, piece = piece.split_cells(low - pos)
        skipped = len(head.text)
    if pos + segment.cell_length > high:
        piece, _ = piece.split_cells(high - max(pos, low))
    style = segment.style
    if skipped and (offset := selection_offset(style)) is not None:
        x, line_y = offset
        piece = Segment(piece.text, style + Style.from_meta({"offset": (x + skipped, line_y)}), piece.control)
    return piece


def with_offsets(line: Strip, y: int) -> tuple[Segment, ...]:
    """Selection offsets in a block's own lines and columns, on the segments that had them in their
    paragraph (text, not padding: the segments merge as they did before)."""
    segments, x = [], 0
    for text, style, control in line:
        if selection_offset(style) is not None:
            style = style + Style.from_meta({"offset": (x, y)})
        segments.append(Segment(text, style, control))
        x += len(text)
    return tuple(segments)


class FoldedLines(Widget):
    """The captured lines of the parts of a message still to be rebuilt, folded to the width; each
    part's lines go as that part is back in the message (see AnswerBlock._rebuild)."""

    DEFAULT_CSS = "FoldedLines { height: auto; }"

    def __init__(self, lines: list[Line], used: list[int], part_rows: list[int]) -> None:
        super().__init__()
        self._lines, self._used, self._part_rows = lines, used, list(part_rows)
        self._width, self._starts = 0, [0]

    def drop_first_part(self) -> None:
        if self._part_rows:
            rows = self._part_rows.pop(0)
            del self._lines[:rows], self._used[:rows]
            self._width = 0
            self.refresh(layout=True)

    def _folded(self, width: int) -> list[int]:
        if width != self._width:
            self._starts, self._width = fold_starts(self._used, width), width
        return self._starts

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return self._folded(width)[-1] if width else 0

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        return fold_line(self._lines, self._used, self._folded(width), y, width, self.rich_style)


class AnswerBlock(Markdown):
    """A Markdown block of a message; once finished and laid out, drawn from its captured lines."""

    finished = False
    _lines: list[Line] | None = None  # the captured lines, the children gone
    _used: list[int]  # the cells of each captured line up to its last visible character
    _part_rows: list[int]  # how many of the captured lines each part of the source made
    _text = ""  # the captured lines' text, for copying a selection
    _captured_width = 0
    _fold_width = -1  # the width _fold_starts was computed for (see fold_line); -1: none
    _fold_starts: list[int]
    _later_parts: list[str]  # the sources of later blocks whose captured lines this one took over
    _rebuilt_for: AnswerBlock | None = None  # the block whose rebuild mounted this one (see _rebuild)
    _rebuilding = False  # from a restore until every taken-over block is back in this one
    _capture_pending = False
    _restoring = False
    _streamed = False  # written by a stream (a stored message's parts are finished from the start)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._later_parts = []
        self._used = []
        self._part_rows = []
        self._captured = asyncio.Event()
        self._merge_waits = 0  # times this block waited for the one before (see _waits_for_block_before)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self.finished:
            self._schedule_capture()

    def finish(self) -> None:
        """No more text comes: capture the lines once this block has been laid out."""
        self.finished = True
        self._streamed = True
        self._schedule_capture()

    @property
    def captured(self) -> asyncio.Event:
        """Set once this finished block has been captured, or will stay live."""
        return self._captured

    @property
    def is_captured(self) -> bool:
        """Drawn from captured lines (its Markdown children are gone)."""
        return self._lines is not None

    @property
    def busy(self) -> bool:
        """Being rebuilt from its source (see `restore`)."""
        return self._restoring or self._rebuilding

    @property
    def full_source(self) -> str:
        """The Markdown of this block and of the blocks whose lines it took over."""
        return self.source + "".join(self._later_parts)

    @property
    def stale(self) -> bool:
        """Drawn from lines captured at another width (folded to this one) until rebuilt."""
        return self._lines is not None and self._captured_width != self.size.width

    # ---- capturing ---------------------------------------------------------------------------

    def _schedule_capture(self) -> None:
        if not self._capture_pending and self._lines is None:
            self._capture_pending = True
            self.call_after_refresh(self._capture)

    async def _capture(self) -> None:
        self._capture_pending = False
        if self._lines is not None or not self.is_attached or self._restoring:
            return
        if not self.source.strip():
            if self._block_before() is not None:  # the empty last block of a stream: drop it
                await self._leave()
            else:
                self.captured.set()
            return
        if not self._laid_out():
            # Still parsing or mounting (a stored message), or not laid out yet: try again after the
            # next refresh.
            self._schedule_capture()
            return
        if any(fence.max_scroll_x for fence in self.query("MarkdownFence")):
            self.captured.set()
            return  # a wide code line: the fence must stay scrollable
        width, height = self.outer_size
        if self._waits_for_block_before(width):
            self._merge_waits += 1
            self._capture_pending = True  # looked at again shortly, refresh or not
            self.set_timer(MERGE_POLL_S, self._capture)
            return
        strips = await self._render_alone(width, height)
        if strips is None:  # resized, restyled or removed meanwhile
            self._schedule_capture()
            return
        head = self._merge_target(width)
        base = len(head._lines) if head is not None and head._lines is not None else 0
        # Kept as plain segments: a Strip carries seven caches, too many objects to keep per line (the
        # garbage collector walks them all); the few lines on screen become Strips when drawn.
        lines = [(with_offsets(strip, base + y), strip.cell_length) for y, strip in enumerate(strips)]
        texts = [strip.text.rstrip() for strip in strips]
        used = [cell_len(line) for line in texts]
        if head is not None:
            # The block before holds the lines of the message's earlier blocks: append these and
            # leave. Textual arranges every widget on every layout, so one widget for all the
            # finished blocks keeps a layout's cost flat however long the answer grows.
            head._append_captured(lines, used, "\n".join(texts), self.source)
            self._lines = lines  # done: never captured again
            await self._leave()
            return
        await self._keep_lines(lines, used, "\n".join(texts), width)

    def _waits_for_block_before(self, width: int) -> bool:
        """The stream's block before is still being captured, or was captured at another width and is
        (about to be) rebuilt at this one (a scrollbar came or went): this block merges into it once that
        is done. Captured meanwhile, it would keep its own lines and the answer would stay two widgets for
        good. A block before that is not rebuilt soon (off screen, say) is not waited for. Only a stream's
        blocks wait: a stored message's parts are captured as a resize reaches them, and waiting there
        would hold back every rebuild behind the one before it."""
        if not self._streamed or self._rebuilt_for is not None or self._merge_waits >= MERGE_WAITS:
            return False  # a stored message's part, or a rebuild's own part: `_merge_target` decides
        before = self._block_before()
        if before is None:
            return False
        if before._rebuilding or before._rebuilt_for is not None:
            return True
        if before._lines is not None:
            return before._captured_width != width
        return not before.captured.is_set()

    def _laid_out(self) -> bool:
        """Parsed, mounted and laid out at a real size: what is drawn now is what will be captured."""
        width, height = self.outer_size
        children = self.children
        return bool(
            not self.lock.is_locked
            and children
            and width
            and height
            and not layout_pending(self)
            and all(child.size.width for child in children)
        )

    async def _keep_lines(self, lines: list[Line], used: list[int], text: str, width: int) -> None:
        """Draw this block from `lines` from now on and drop its children."""
        self._lines = lines
        self._used = used
        self._part_rows = [len(lines)]
        self._fold_width = -1
        self._captured_width = width
        self._text = text
        # Drawn by this widget from now: identical lines, so removing the children is invisible.
        await self.remove_children()
        forget_children(self)
        # After the next frame: until the screen lays out again its map still holds the children.
        self.call_after_refresh(self.captured.set)
        if (conversation := self._conversation()) is not None:
            conversation.settle_later()

    async def _leave(self) -> None:
        """Remove this block; `captured` is set after the next frame, as until the screen lays out
        again its map still holds the block."""
        screen = self.screen
        await self.remove()
        screen.call_after_refresh(self.captured.set)

    def _merge_target(self, width: int) -> AnswerBlock | None:
        """The finished block just before this one in the same message, if it holds captured lines
        of this width (it is not being rebuilt)."""
        before = self._block_before()
        if before is None or before._lines is None or before._captured_width != width:
            return None
        if self._rebuilt_for is not None:  # a part of a rebuild goes back into its own block
            return before if before is self._rebuilt_for or before._rebuilt_for is self._rebuilt_for else None
        if before._rebuilding or before._rebuilt_for is not None:
            return None  # the stream's next block waits until a rebuild has put everything back
        return before

    def _block_before(self) -> AnswerBlock | None:
        """The AnswerBlock just before this one in its message, if any."""
        parent = self.parent
        if parent is None:
            return None
        siblings = parent.children
        index = siblings.index(self)
        before = siblings[index - 1] if index > 0 else None
        return before if isinstance(before, AnswerBlock) else None

    def _append_captured(self, lines: list[Line], used: list[int], text: str, source: str) -> None:
        """Take over the captured lines, text and source of the block that followed this one."""
        assert self._lines is not None
        self._lines.extend(lines)
        self._used.extend(used)
        self._part_rows.append(len(lines))
        self._fold_width = -1
        self._text += "\n" + text
        self._later_parts.append(source)
        self.refresh(layout=True)

    async def _render_alone(self, width: int, height: int) -> list[Strip] | None:
        """This block's lines as the screen would draw them, composited for the block alone.

        In bands of CAPTURE_BAND lines with the loop turning between them: rendering a long block in
        one go took 15-30 ms, during which a key typed into the composer waited. None if the block
        changed size, was rebuilt or left the screen in between."""

        def changed() -> bool:
            return (
                not self.is_attached or self._restoring or self._lines is not None or self.outer_size != (width, height)
            )

        await asyncio.sleep(0)  # called right after a frame was drawn: let a key in first
        if changed():
            return None
        strips: list[Strip] = []
        with widget_alone(self, width, height) as alone:
            for top in range(0, height, CAPTURE_BAND):
                await asyncio.sleep(0)
                if changed():
                    return None
                strips.extend(alone.rows(top, min(CAPTURE_BAND, height - top)))
        return strips

    # ---- rebuilding ----------------------------------------------------------------------------

    def restore(self) -> None:
        """Width or theme changed: rebuild the children from the source, then capture again."""
        if self._lines is None or self._restoring or self._rebuilding:
            return
        self._restoring = self._rebuilding = True
        self.run_worker(self._rebuild(), group="answer-block")

    async def _rebuild(self) -> None:
        """Rebuild as the stream built it: this block's own source first, then each block it had
        taken over, one at a time, each merged back once captured. One Markdown of the whole answer
        instead stalled the app for seconds (a 20k-token answer: 35 s, 1.8 s at a time)."""
        parts = self._later_parts
        conversation = self._conversation()
        placeholder = await self._show_folded_parts()
        try:
            self._later_parts = []
            await self._rebuild_own_source()
            await self._rebuild_parts(parts, placeholder, conversation)
        finally:
            self._rebuilding = False
            if placeholder is not None and placeholder.is_attached:
                await placeholder.remove()
        if self._lines is not None and self._captured_width != self.size.width:
            if conversation is None:  # resized again while rebuilding
                self.restore()
            else:
                conversation.reflow_later(self)

    async def _show_folded_parts(self) -> FoldedLines | None:
        """Keep the later parts' old lines on screen, folded to the width, until each part is back:
        the message never looks cut short while it is rebuilt."""
        own = self._part_rows[0] if self._part_rows else 0
        if not self._later_parts or self._lines is None or len(self._lines) <= own or self.parent is None:
            return None
        placeholder = FoldedLines(self._lines[own:], self._used[own:], self._part_rows[1:])
        await self.parent.mount(placeholder, after=self)
        return placeholder

    async def _rebuild_own_source(self) -> None:
        """Markdown children for this block's own source again, captured once laid out."""
        self.captured.clear()
        try:
            with self.app.batch_update():
                self._lines = None
                await self.update(self.source)
        finally:
            self._restoring = False
        self.refresh(layout=True)
        self._schedule_capture()
        await self.captured.wait()

    async def _rebuild_parts(
        self, parts: list[str], placeholder: FoldedLines | None, conversation: Conversation | None
    ) -> None:
        """Mount each taken-over part after this block, one at a time; each merges back once captured."""
        last = self
        for part in parts:
            if conversation is not None:
                await conversation.quiet()  # a part is a parse and a mount: not while typing
            if not self.is_attached or last.parent is None:
                return
            block = AnswerBlock(part)
            block.finished = True
            block._rebuilt_for = self
            await last.parent.mount(block, after=last)
            await block.captured.wait()
            if placeholder is not None:
                placeholder.drop_first_part()
            if block.is_attached:  # kept apart (a width changed meanwhile): the next follows it
                last = block

    def _on_theme_changed(self, _theme: Any) -> None:
        self.restore()

    def on_resize(self, event: Any) -> None:
        if self._lines is not None and event.size.width != self._captured_width:
            # Shown folded to the new width at once; rebuilt when on screen and the user pauses, or
            # later in idle time (see Conversation.reflow_later).
            conversation = self._conversation()
            if conversation is None:
                self.restore()
            else:
                conversation.reflow_later(self)

    def _conversation(self) -> Conversation | None:
        return next((node for node in self.ancestors if isinstance(node, Conversation)), None)

    # ---- drawing the captured lines --------------------------------------------------------------

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        if self._lines is not None:
            if width == self._captured_width or not width:
                return len(self._lines)
            return self._folded_starts(width)[-1]
        return super().get_content_height(container, viewport, width)

    def _folded_starts(self, width: int) -> list[int]:
        if self._fold_width != width:
            self._fold_starts = fold_starts(self._used, width)
            self._fold_width = width
        return self._fold_starts

    def render_line(self, y: int) -> Strip:
        lines = self._lines
        if lines is None:
            return super().render_line(y)
        width = self.size.width
        if width != self._captured_width:  # resized, not rebuilt yet: folded, never cut
            return fold_line(lines, self._used, self._folded_starts(width), y, width, self.rich_style)
        if y >= len(lines):
            return Strip.blank(width, self.rich_style)
        line = Strip(*lines[y])
        # A block merged into the one before is drawn once more from the screen's old map.
        selection = self.text_selection if self.is_attached else None
        if selection is not None and (span := selection.get_span(y)) is not None:
            line = self._select(line, *span)
        return line

    def render_lines(self, crop: Any) -> list[Strip]:
        if self._lines is None:
            return super().render_lines(crop)
        return [self.render_line(y).crop(crop.x, crop.right) for y in crop.line_range]

    def _select(self, line: Strip, start: int, end: int) -> Strip:
        text = line.text
        end = len(text) if end == -1 else end
        cut1, cut2 = cell_len(text[:start]), cell_len(text[:end])
        if cut2 <= cut1:
            return line
        style = self.screen.get_component_rich_style("screen--selection")
        head, middle, tail = line.divide([cut1, cut2, line.cell_length])[:3]
        middle = Strip([Segment(t, s + style if s else style, c) for t, s, c in middle], middle.cell_length)
        return Strip.join([head, middle, tail])

    def get_selection(self, selection: Any) -> tuple[str, str] | None:
        if self._lines is None:
            return super().get_selection(selection)
        return selection.extract(self._text), "\n"

    def selection_updated(self, selection: Any) -> None:
        self.refresh()

    async def action_link(self, href: str) -> None:
        """A click on a link in the captured lines (its block is gone): as Markdown does."""
        self.post_message(Markdown.LinkClicked(self, href))
