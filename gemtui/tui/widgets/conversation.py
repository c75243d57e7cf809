"""The conversation: messages as Markdown, answers streamed through `Markdown.get_stream`.

The scroll view is anchored to the bottom, which Textual releases as soon as the user scrolls up
and restores when they scroll back down, so a long answer never yanks the view from a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from gemtui.tui.widgets import heap

# Markdown (and markdown-it) load with the first message, not at start-up: first paint stays fast.


def answer_label(model: str | None, input_tokens: int | None, output_tokens: int | None,
                 latency_s: float | None, switched_from: str | None = None) -> str:
    """`gemini-2.5-flash · 12 in / 240 out · 1.8 s` — every answer says who gave it and what it cost."""
    parts = [model or "?"]
    if switched_from:
        parts[0] += f" (for {switched_from})"
    if input_tokens is not None or output_tokens is not None:
        parts.append(f"{input_tokens if input_tokens is not None else '?'} in / "
                     f"{output_tokens if output_tokens is not None else '?'} out")
    if latency_s is not None:
        parts.append(f"{latency_s:.1f} s")
    return " · ".join(parts)


FLUSH_S = 1 / 30  # streamed text reaches the Markdown widget at most this often (counted start to start)
SEGMENT_CHARS = 1500  # past this, a streamed answer continues in a new Markdown block
FRAME_CHARS = 600  # at most this much streamed text reaches the Markdown per frame
CAPTURE_BAND = 12  # a finished block's lines are captured this many at a time
CAPTURE_WAIT_S = 0.5  # a finished block is captured after the next frame; never wait longer than this


async def _stop(stream: Any) -> None:
    """Stop a MarkdownStream; its task must have started once, or stop() raises CancelledError."""
    await asyncio.sleep(0)
    await stream.stop()


_BLOCK_CLASS: type | None = None


def _block_class() -> type:
    """`AnswerBlock`: a Markdown block of a message which, once finished, keeps only its drawn lines.

    Built on first use so Markdown (and markdown-it) stay out of start-up.

    Why: Textual walks every displayed widget on every layout and repaints the scrolling conversation
    each frame while the view follows an answer, so a long answer (thousands of paragraph, list-row
    and fence widgets, each with styles and render caches) made every frame slower and kept hundreds
    of thousands of objects alive for the garbage collector to walk. A finished block's lines depend
    only on its source, its width and the theme, so once it has been laid out it renders itself once
    into `Strip`s (the same lines Textual would draw) and drops its child widgets. A finished block
    of a streamed answer then hands its lines to the captured block before it and leaves: one widget
    and a list of lines per message, however long. A different width or theme rebuilds the children
    from the source (part by part, as the answer streamed) and captures again. The lines keep their
    link actions, and text can still be selected in them (by line and column of what is drawn).

    A block with a code line wider than the view stays live: its fence scrolls sideways.
    """
    global _BLOCK_CLASS
    if _BLOCK_CLASS is None:
        from rich.cells import cell_len
        from rich.segment import Segment
        from rich.style import Style
        from textual._compositor import Compositor
        from textual.geometry import Region, Size
        from textual.strip import Strip
        from textual.widgets import Markdown

        class AnswerBlock(Markdown):
            finished = False
            _lines: list[Any] | None = None  # the captured (segments, cells) lines, the children gone
            _captured_width = 0
            _later_parts: list[str]  # the sources of later blocks whose captured lines this one took over
            _rebuilt_for: Any = None  # the block whose rebuild mounted this one (see _rebuild)
            _rebuilding = False  # from a restore until every taken-over block is back in this one
            _capture_pending = False
            _restoring = False

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._later_parts = []

            def on_mount(self) -> None:
                self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
                if self.finished:
                    self._schedule_capture()

            def finish(self) -> None:
                """No more text comes: capture the lines once this block has been laid out."""
                self.finished = True
                self._schedule_capture()

            @property
            def captured(self) -> asyncio.Event:
                """Set once this finished block has been captured, or will stay live."""
                if (event := self.__dict__.get("_captured")) is None:
                    event = self.__dict__["_captured"] = asyncio.Event()
                return event

            # ---- capturing ---------------------------------------------------------------------

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
                width, height = self.outer_size
                children = self.children
                if (self.lock.is_locked or not children or not width or not height
                        or self._layout_required or self.screen._layout_required
                        or any(not child.size.width for child in children)):
                    # Still parsing or mounting (a stored message), or not laid out yet: try again
                    # after the next refresh.
                    self._schedule_capture()
                    return
                if any(fence.max_scroll_x for fence in self.query("MarkdownFence")):
                    self.captured.set()
                    return  # a wide code line: the fence must stay scrollable
                strips = await self._render_alone(width, height)
                if strips is None:  # resized, restyled or removed meanwhile
                    self._schedule_capture()
                    return
                head = self._merge_target(width)
                base = len(head._lines) if head is not None else 0
                # Kept as plain segments: a Strip carries seven caches, too many objects to keep per line
                # (the garbage collector walks them all); the few lines on screen become Strips when drawn.
                lines = [(self._with_offsets(strip, base + y), strip.cell_length) for y, strip in enumerate(strips)]
                text = "\n".join(strip.text.rstrip() for strip in strips)
                if head is not None:
                    # The block before holds the lines of the message's earlier blocks: append these
                    # and leave. Textual arranges every widget on every layout, so one widget for all
                    # the finished blocks keeps a layout's cost flat however long the answer grows.
                    head._append_captured(lines, text, self.source)
                    self._lines = lines  # done: never captured again
                    await self._leave()
                    return
                self._lines = lines
                self._captured_width = width
                self._text = text
                # Drawn by this widget from now: identical lines, so removing the children is invisible.
                await self.remove_children()
                # Textual's caches of the children list and their arrangement are only refreshed by the
                # next layout of those children, which a childless widget never has: they would keep
                # every removed widget alive.
                self._arrangement_cache.clear()
                _ = self._nodes.displayed
                # After the next frame: until the screen lays out again its map still holds the children.
                self.call_after_refresh(self.captured.set)

            async def _leave(self) -> None:
                """Remove this block; `captured` is set after the next frame, as until the screen lays
                out again its map still holds the block."""
                screen = self.screen
                await self.remove()
                screen.call_after_refresh(self.captured.set)

            def _merge_target(self, width: int) -> Any:
                """The finished block just before this one in the same message, if it holds captured
                lines of this width (it is not being rebuilt)."""
                before = self._block_before()
                if before is None or before._lines is None or before._captured_width != width:
                    return None
                if self._rebuilt_for is not None:  # a part of a rebuild goes back into its own block
                    return before if before is self._rebuilt_for or before._rebuilt_for is self._rebuilt_for else None
                if before._rebuilding or before._rebuilt_for is not None:
                    return None  # the stream's next block waits until a rebuild has put everything back
                return before

            def _block_before(self) -> Any:
                """The AnswerBlock just before this one in its message, if any."""
                parent = self.parent
                if parent is None:
                    return None
                siblings = parent.children
                index = siblings.index(self)
                before = siblings[index - 1] if index > 0 else None
                return before if isinstance(before, AnswerBlock) else None

            def _append_captured(self, lines: list[Any], text: str, source: str) -> None:
                """Take over the captured lines, text and source of the block that followed this one."""
                assert self._lines is not None
                self._lines.extend(lines)
                self._text += "\n" + text
                self._later_parts.append(source)
                self.refresh(layout=True)

            @property
            def full_source(self) -> str:
                """The Markdown of this block and of the blocks whose lines it took over."""
                return self.source + "".join(self._later_parts)

            async def _render_alone(self, width: int, height: int) -> list[Strip] | None:
                """This block's lines as the screen would draw them, composited for the block alone.

                In bands of CAPTURE_BAND lines with the loop turning between them: rendering a long
                block in one go took 15-30 ms, during which a key typed into the composer waited.
                None if the block changed size, was rebuilt or left the screen in between."""
                def changed() -> bool:
                    return (not self.is_attached or self._restoring or self._lines is not None
                            or self.outer_size != (width, height))

                await asyncio.sleep(0)  # called right after a frame was drawn: let a key in first
                if changed():
                    return None
                compositor = Compositor()  # the screen's own compositing, for this block alone
                compositor.reflow(self, Size(width, height))
                strips: list[Strip] = []
                try:
                    for top in range(0, height, CAPTURE_BAND):
                        await asyncio.sleep(0)
                        if changed():
                            return None
                        band = Region(0, top, width, min(CAPTURE_BAND, height - top))
                        chops = compositor._render_chops(band, lambda _y: True)
                        strips.extend(Strip.join(chop.values()) for chop in chops[band.y:band.bottom])
                finally:
                    compositor.clear()
                return strips

            def _restore(self) -> None:
                """Width or theme changed: rebuild the children from the source, then capture again."""
                if self._lines is None or self._restoring or self._rebuilding:
                    return
                self._restoring = self._rebuilding = True
                self.run_worker(self._rebuild(), group="answer-block")

            async def _rebuild(self) -> None:
                """Rebuild as the stream built it: this block's own source first, then each block it
                had taken over, one at a time, each merged back once captured. One Markdown of the
                whole answer instead stalled the app for seconds (a 20k-token answer: 35 s, 1.8 s
                at a time)."""
                parts = self._later_parts
                try:
                    self._later_parts = []
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
                    last = self
                    for part in parts:
                        if not self.is_attached or last.parent is None:
                            return
                        block = AnswerBlock(part)
                        block.finished = True
                        block._rebuilt_for = self
                        await last.parent.mount(block, after=last)
                        await block.captured.wait()
                        if block.is_attached:  # kept apart (a width changed meanwhile): the next follows it
                            last = block
                finally:
                    self._rebuilding = False
                if self._lines is not None and self._captured_width != self.size.width:
                    self._restore()  # resized again while rebuilding

            def _on_theme_changed(self, _theme: Any) -> None:
                self._restore()

            def on_resize(self, event: Any) -> None:
                if self._lines is not None and event.size.width != self._captured_width:
                    self._restore()

            # ---- drawing the captured lines ----------------------------------------------------

            def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
                if self._lines is not None:
                    return len(self._lines)
                return super().get_content_height(container, viewport, width)

            def render_line(self, y: int) -> Strip:
                lines = self._lines
                if lines is None:
                    return super().render_line(y)
                width = self.size.width
                if y >= len(lines):
                    return Strip.blank(width, self.rich_style)
                line = Strip(*lines[y])
                if line.cell_length != width:  # mid-resize, before the rebuild
                    line = line.crop_extend(0, width, self.rich_style)
                # A block merged into the one before is drawn once more from the screen's old map.
                selection = self.text_selection if self.is_attached else None
                if selection is not None and (span := selection.get_span(y)) is not None:
                    line = self._select(line, y, *span)
                return line

            @staticmethod
            def _with_offsets(line: Strip, y: int) -> tuple[Segment, ...]:
                """Selection offsets in this block's own lines and columns, on the segments that had them
                in their paragraph (text, not padding: the segments merge as they did before)."""
                segments, x = [], 0
                for text, style, control in line:
                    if style is not None and style._meta is not None and "offset" in style.meta:
                        style = style + Style.from_meta({"offset": (x, y)})
                    segments.append(Segment(text, style, control))
                    x += len(text)
                return tuple(segments)

            def render_lines(self, crop: Any) -> list[Strip]:
                if self._lines is None:
                    return super().render_lines(crop)
                return [self.render_line(y).crop(crop.x, crop.right) for y in crop.line_range]

            def _select(self, line: Strip, y: int, start: int, end: int) -> Strip:
                text = line.text
                end = len(text) if end == -1 else end
                cut1, cut2 = cell_len(text[:start]), cell_len(text[:end])
                if cut2 <= cut1:
                    return line
                style = self.screen.get_component_rich_style("screen--selection")
                head, middle, tail = line.divide([cut1, cut2, line.cell_length])[:3]
                middle = Strip([Segment(t, s + style if s else style, c) for t, s, c in middle],
                               middle.cell_length)
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

        _BLOCK_CLASS = AnswerBlock
    return _BLOCK_CLASS


class MessageView(Vertical):
    """One message: a one-line label and a Markdown body (streamed for answers)."""

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView.-user { border-left: thick $secondary; background: $boost; }
    MessageView.-model { border-left: thick $primary; }
    MessageView.-partial { border-left: thick $warning; }
    MessageView.-error { border-left: thick $error; }
    MessageView .label { color: $text-muted; height: 1; }
    MessageView .status { color: $warning; height: auto; }
    MessageView.-error .status { color: $error; }
    MessageView Markdown { margin: 0; padding: 0; background: transparent; }
    MessageView Markdown > * { margin-bottom: 0; }
    """

    def __init__(self, role: str, text: str = "", label: str = "", msg_id: Any = None, **kwargs: Any) -> None:
        super().__init__(classes=f"-{role}", **kwargs)
        self.role = role
        self.text = text
        self.msg_id = msg_id
        self._label = label
        self._stream: Any = None

    def compose(self) -> ComposeResult:
        yield Static(self._label or ("you" if self.role == "user" else "…"), classes="label")
        block = _block_class()(self.text)
        block.finished = bool(self.text)  # a stored message never changes; a streamed one finishes later
        yield block
        yield Static("", classes="status")

    def on_mount(self) -> None:
        self.query_one(".status", Static).display = False

    def set_label(self, label: str) -> None:
        self._label = label
        self.query_one(".label", Static).update(label)

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one(".status", Static)
        status.update(text)
        status.display = bool(text)
        self.set_class(bool(text) and not error, "-partial")
        self.set_class(bool(text) and error, "-error")

    async def write(self, fragment: str) -> None:
        """Append streamed text. Fragments are gathered and handed to the MarkdownStream at most once a
        frame: every Markdown append re-parses the tail, so thousands of tiny ones cost far more."""
        if self._stream is None:
            from textual.widgets import Markdown

            self._block = self.query_one(Markdown)
            self._stream = Markdown.get_stream(self._block)
            self._pending: list[str] = []
            self._flush_timer: Any = None
            self._flush_lock = asyncio.Lock()  # one hand-over at a time (they await mounts and stops)
            self._last_flush = 0.0  # when the last hand-over started (they start FLUSH_S apart at most)
            self._segment = self.text
        self.text += fragment
        self._pending.append(fragment)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_timer is None:
            delay = max(0.001, self._last_flush + FLUSH_S - time.monotonic())  # a timer of 0 s is refused
            self._flush_timer = self.set_timer(delay, self._flush)

    async def _flush(self) -> None:
        """Hand the text gathered since the last hand-over to the Markdown, at most FRAME_CHARS of it:
        when text arrives faster than the screen can draw it (a burst, a slow terminal) the rest waits
        for the next hand-overs instead of one long parse-and-layout freezing the composer. Hand-overs
        start at most every FLUSH_S; one that took longer is followed at once (after the loop has
        turned, so keys and frames in between are handled)."""
        self._flush_timer = None
        async with self._flush_lock:
            if self._stream is None or not self._pending:
                return
            self._last_flush = time.monotonic()
            text = "".join(self._pending)
            self._pending.clear()
            if len(text) > FRAME_CHARS:
                self._pending.append(text[FRAME_CHARS:])
                text = text[:FRAME_CHARS]
            await self._hand_over(text)
            if self._pending:
                self._schedule_flush()

    async def _hand_over(self, text: str) -> None:
        start = len(self._segment)
        self._segment += text
        if len(self._segment) > SEGMENT_CHARS:
            # Long answers continue in a fresh Markdown block at a paragraph boundary (inside the new
            # text) outside code, so each append re-parses and re-measures a few KB, not the answer.
            cut = self._segment.rfind("\n\n", max(0, start - 1))
            if cut > 0 and self._segment[:cut].count("```") % 2 == 0:
                split = cut + 2 - start
                head, tail = text[:split], text[split:]
                if head:
                    await self._stream.write(head)
                await _stop(self._stream)
                self._block.finish()  # drawn from its captured lines once laid out
                await self._settle(self._block)
                from textual.widgets import Markdown

                block = self._block = _block_class()()
                await self.mount(block, before=self.query_one(".status"))
                self._stream = Markdown.get_stream(block)
                self._segment = tail
                text = tail
        if text:
            await self._stream.write(text)

    @staticmethod
    async def _settle(block: Any) -> None:
        """Wait until a finished block of a streamed answer is captured (a frame or two), then take what
        is alive out of the full collections' walk (see `heap`). This runs before the next block exists,
        so no Markdown widget is alive to be frozen now and dropped later; what can still die frozen is
        the on-screen widgets' render caches of the moment, released with the conversation."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(block.captured.wait(), CAPTURE_WAIT_S)
        heap.settle()

    async def end_stream(self) -> None:
        if self._stream is None:
            return
        while self._pending:  # a backlog drains at the frame rate too
            self._stop_timer()
            await self._flush()
            if self._pending:
                await asyncio.sleep(FLUSH_S)
        self._stop_timer()
        async with self._flush_lock:
            stream, self._stream = self._stream, None
            if stream is not None:
                await _stop(stream)
                self._block.finish()
                await self._settle(self._block)

    def _stop_timer(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None


class Conversation(VerticalScroll):
    """The scrolling list of messages, anchored to the bottom."""

    DEFAULT_CSS = """
    Conversation { height: 1fr; padding: 0 1; }
    Conversation .marker { color: $text-muted; text-style: italic; margin-bottom: 1; }
    Conversation .notice { color: $accent; margin-bottom: 1; }
    """

    def on_mount(self) -> None:
        self.anchor()

    async def add_message(self, role: str, text: str = "", label: str = "",
                          msg_id: Any = None) -> MessageView:
        view = MessageView(role, text, label, msg_id)
        await self.mount(view)
        return view

    async def add_notice(self, text: str, classes: str = "notice") -> Static:
        note = Static(text, classes=classes)
        await self.mount(note)
        return note

    async def clear(self) -> None:
        await self.remove_children()
        self.call_after_refresh(heap.release)  # the dropped messages' lines were frozen: collect them once

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
