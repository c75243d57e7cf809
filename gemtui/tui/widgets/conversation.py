"""The conversation: messages as Markdown, answers streamed through `Markdown.get_stream`.

The scroll view is anchored to the bottom, which Textual releases as soon as the user scrolls up
and restores when they scroll back down, so a long answer never yanks the view from a reader.
"""

from __future__ import annotations

import asyncio
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


FLUSH_S = 1 / 30  # streamed text reaches the Markdown widget at most this often
SEGMENT_CHARS = 1500  # past this, a streamed answer continues in a new Markdown block
FRAME_CHARS = 600  # at most this much streamed text reaches the Markdown per frame


async def _stop(stream: Any) -> None:
    """Stop a MarkdownStream; its task must have started once, or stop() raises CancelledError."""
    await asyncio.sleep(0)
    await stream.stop()


_BLOCK_CLASS: type | None = None
KEEP_SCREENS = 1  # finished blocks within this many screen heights of the view stay expanded


def _block_class() -> type:
    """`AnswerBlock`: a Markdown block of a message, which can be frozen and then collapsed.

    Built on first use so Markdown (and markdown-it) stay out of start-up.

    Why frozen: every block has `height: auto`, so Textual hands the *container's* height down when
    it measures them, and that height is part of every layout cache key below it. While an answer
    streams its MessageView grows every frame, so each frame re-measured every finished block and
    every paragraph, list row and fence inside them. A finished block's height depends only on its
    width, so once frozen it is cached by width (a resize re-measures it) and by the block's own
    layout counters (a change inside it re-measures it too).

    Why collapsed: Textual still walks every displayed widget on every layout (and a full map for
    region look-ups), so a 20k-token answer (thousands of widgets) cost ~100 ms per frame even with
    the heights cached, and more at every new block. A frozen block far outside the view keeps its
    height but hides its children, so a frame costs the same however long the
    conversation gets; the Conversation expands blocks again before they scroll into view.
    """
    global _BLOCK_CLASS
    if _BLOCK_CLASS is None:
        from textual.widgets import Markdown

        class AnswerBlock(Markdown):
            frozen = False
            collapsed = False
            _height_key: Any = None
            _height = 0
            _collapsed_width = 0

            def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
                if not self.frozen:
                    return super().get_content_height(container, viewport, width)
                key = (width, self._layout_updates, self._nodes._updates, self.styles._cache_key)
                if key != self._height_key:
                    self._height = super().get_content_height(container, viewport, width)
                    self._height_key = key
                return self._height

            def on_mount(self) -> None:
                if self.frozen:
                    self.freeze()

            def freeze(self) -> None:
                self.frozen = True
                for node in self.ancestors:
                    if isinstance(node, Conversation):
                        node.track(self)
                        break

            def collapse(self) -> None:
                height = self.region.height
                if self.collapsed or not self.frozen or not height or not self.size.width:
                    return
                self.collapsed = True
                self._collapsed_width = self.size.width
                self.styles.height = height
                # Inline `display`, not a CSS class: a class change restyles the whole subtree.
                for child in self.children:
                    child.display = False

            def expand(self) -> None:
                if self.collapsed:
                    self.collapsed = False
                    self.styles.height = None  # back to the stylesheet's `auto`
                    for child in self.children:
                        child.display = True

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
        block.frozen = bool(self.text)  # a stored message never changes; a streamed one freezes later
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
            self._segment = self.text
        self.text += fragment
        self._pending.append(fragment)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_S, self._flush)

    async def _flush(self) -> None:
        """Hand the text gathered since the last frame to the Markdown, at most FRAME_CHARS of it: when
        text arrives faster than the screen can draw it (a burst, a slow terminal) the rest waits for
        the next frames instead of one long parse-and-layout freezing the composer."""
        self._flush_timer = None
        async with self._flush_lock:
            if self._stream is None or not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            if len(text) > FRAME_CHARS:
                self._pending.append(text[FRAME_CHARS:])
                text = text[:FRAME_CHARS]
            await self._hand_over(text)
            if self._pending:
                self._schedule_flush()  # timed from the end of this hand-over: paced by the screen

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
                self._block.freeze()  # finished: measured once per width, collapsed when far off screen
                from textual.widgets import Markdown

                block = self._block = _block_class()()
                await self.mount(block, before=self.query_one(".status"))
                self._stream = Markdown.get_stream(block)
                self._segment = tail
                text = tail
        if text:
            await self._stream.write(text)

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
                self._block.freeze()

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._blocks: list[Any] = []  # frozen AnswerBlocks, which may collapse when far off screen
        self._check_pending = False

    def on_mount(self) -> None:
        self.anchor()

    # ---- collapsing finished blocks far from the view ----------------------------------------------

    def track(self, block: Any) -> None:
        self._blocks.append(block)
        self._schedule_check()

    def _schedule_check(self) -> None:
        if not self._check_pending:
            self._check_pending = True
            self.call_after_refresh(self._after_refresh_check)

    def _after_refresh_check(self) -> None:
        self._check_pending = False
        self.check_blocks()
        heap.settle()  # finished blocks live as long as the conversation: out of the full GC's walk

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._blocks:
            self.check_blocks()  # expand what is about to come into view before it is painted
            self._schedule_check()

    def on_resize(self) -> None:
        if self._blocks:
            self.check_blocks()
            self._schedule_check()

    def check_blocks(self) -> None:
        """Collapse frozen blocks more than KEEP_SCREENS screens from the view; expand the others.

        Positions are virtual (scroll-independent): the message's place in the conversation plus the
        block's place in the message, so they hold while the view scrolls."""
        self._blocks = [b for b in self._blocks if b.is_attached]
        view_h = self.scrollable_content_region.height
        if not view_h:
            return
        margin = view_h * KEEP_SCREENS
        top, bottom = self.scroll_y - margin, self.scroll_y + view_h + margin
        for block in self._blocks:
            message = block.parent
            if message is None:
                continue
            if block.collapsed and block.size.width != block._collapsed_width:
                block.expand()  # width changed: its height must be measured again
                continue
            region = block.virtual_region
            if not region.height:
                continue
            y = message.virtual_region.y + message.styles.gutter.top + region.y
            if y + region.height < top or y > bottom:
                block.collapse()
            else:
                block.expand()

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
        self._blocks.clear()
        await self.remove_children()
        self.call_after_refresh(heap.release)  # the dropped messages were frozen: collect them once

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
