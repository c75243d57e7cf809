"""The conversation: messages as Markdown, answers streamed through `Markdown.get_stream`.

The scroll view is anchored to the bottom, which Textual releases as soon as the user scrolls up
and restores when they scroll back down, so a long answer never yanks the view from a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from gemtui.tui.widgets import heap
from gemtui.tui.widgets.plain_text import PlainText

if TYPE_CHECKING:
    from gemtui.tui.widgets.answer_block import AnswerBlock


def answer_label(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    latency_s: float | None,
    switched_from: str | None = None,
    thoughts_tokens: int | None = None,
    cached: bool = False,
) -> str:
    """`gemini-2.5-flash · 12 in / 240 out / 310 thinking · 1.8 s` — every answer says who gave it and what
    it cost (thinking tokens are billed as output, and never count toward the input-token limit); one from
    the response cache ends in `cached` instead of a time (nothing was sent for it)."""
    parts = [model or "?"]
    if switched_from:
        parts[0] += f" (for {switched_from})"
    if input_tokens is not None or output_tokens is not None:
        parts.append(
            f"{input_tokens if input_tokens is not None else '?'} in / "
            f"{output_tokens if output_tokens is not None else '?'} out"
            + (f" / {thoughts_tokens} thinking" if thoughts_tokens else "")
        )
    if cached:
        parts.append("cached")
    elif latency_s is not None:
        parts.append(f"{latency_s:.1f} s")
    return " · ".join(parts)


FLUSH_S = 1 / 30  # streamed text reaches the Markdown widget at most this often (counted start to start)
SEGMENT_CHARS = 1500  # past this, a streamed answer continues in a new Markdown block
FRAME_CHARS = 600  # at most this much streamed text reaches the Markdown per frame
CAPTURE_BAND = 12  # a finished block's lines are captured this many at a time
CAPTURE_WAIT_S = 0.5  # a finished block is captured after the next frame; never wait longer than this
REFLOW_QUIET_S = 0.25  # after a resize, answers are rebuilt once typing and resizing paused this long
REFLOW_POLL_S = 0.02  # how often the reflow looks whether the answer it started is rebuilt
SETTLE_AFTER_S = 0.3  # the heap is settled this long after the last stored message was captured


def attachment_lines(attachments: Any) -> list[str]:
    """`📎 notes.py (text, 1.2 kB)` for each file sent with a message."""
    return [f"📎 {a.path} ({'text' if a.is_text else a.mime}, {a.size / 1000:.1f} kB)" for a in attachments]


def image_lines(images: Any) -> list[str]:
    """Where each image of an answer was saved, its size and kind (a preview follows where the terminal
    can draw one; /open shows it full size)."""
    return [f"🖼 {image.describe()} — /open to view" for image in images]


MAX_PREVIEWS = 4  # an answer with more images previews its first ones; every path is listed


def split_parts(text: str) -> list[str]:
    """Markdown cut as a stream cuts it: at a paragraph boundary outside code once a part passes
    SEGMENT_CHARS. A stored answer is shown in such parts, so a resize rebuilds one small part at a
    time (one Markdown of a long answer is a parse and a mount of hundreds of widgets in one go)."""
    parts, start = [], 0
    while len(text) - start > SEGMENT_CHARS:
        cut = text.find("\n\n", start + SEGMENT_CHARS)
        while cut != -1 and text[start:cut].count("```") % 2:
            cut = text.find("\n\n", cut + 2)
        if cut == -1 or cut + 2 >= len(text):
            break
        parts.append(text[start : cut + 2])
        start = cut + 2
    parts.append(text[start:])
    return parts


async def _stop(stream: Any) -> None:
    """Stop a MarkdownStream; its task must have started once, or stop() raises CancelledError."""
    await asyncio.sleep(0)
    await stream.stop()


def answer_block(source: str = "", *, finished: bool = False) -> AnswerBlock:
    """A new AnswerBlock. Its module (and with it Markdown and markdown-it) is imported with the first
    message, not at start-up: first paint stays fast."""
    from gemtui.tui.widgets.answer_block import AnswerBlock

    block = AnswerBlock(source)
    block.finished = finished
    return block


class MessageView(Vertical):
    """One message: a one-line label and a Markdown body (streamed for answers)."""

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView.-user { border-left: thick $secondary; background: $boost; }
    MessageView.-model { border-left: thick $primary; }
    MessageView.-partial { border-left: thick $warning; }
    MessageView.-error { border-left: thick $error; }
    MessageView .label { color: $text-muted; height: 1; }
    MessageView .files { color: $text-muted; height: auto; }
    MessageView .status { color: $warning; height: auto; }
    MessageView.-error .status { color: $error; }
    MessageView Markdown { margin: 0; padding: 0; background: transparent; }
    MessageView Markdown > * { margin-bottom: 0; }
    MessageView PlainText { margin-bottom: 1; }
    """

    def __init__(self, role: str, text: str = "", label: str = "", msg_id: Any = None, **kwargs: Any) -> None:
        super().__init__(classes=f"-{role}", **kwargs)
        self.role = role
        self.text = text
        self.msg_id = msg_id
        self._label = label
        self._stream: Any = None

    def compose(self) -> ComposeResult:
        yield Static(self._label or ("you" if self.role == "user" else "…"), classes="label", markup=False)
        if self.role == "user":
            # What the user typed, as typed: line breaks kept, never read as Markdown or markup.
            yield PlainText(self.text, classes="body")
        elif not self.text:
            yield answer_block()  # streamed: finished later
        else:
            for part in split_parts(self.text):  # a stored message never changes
                yield answer_block(part, finished=True)
        yield Static("", classes="status", markup=False)

    def on_mount(self) -> None:
        self.query_one(".status", Static).display = False

    def set_label(self, label: str) -> None:
        self._label = label
        self.query_one(".label", Static).update(label)

    async def show_files(self, lines: list[str], previews: list[str] | None = None) -> None:
        """Files sent with the message, or images the answer carried: paths shown as text, never markup;
        then a small picture of each image in `previews` (paths), drawn when decoded."""
        status = self.query_one(".status", Static)
        if lines:
            from gemtui.tui.literal import literal

            await self.mount(Static(literal("\n".join(lines)), classes="files", markup=False), before=status)
        if previews:
            from gemtui.tui.widgets.image_preview import ImagePreview

            await self.mount_all([ImagePreview(path) for path in previews[:MAX_PREVIEWS]], before=status)

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

            self._block = self.query(Markdown).last()  # a stored text is in parts: go on from the last
            self._stream = Markdown.get_stream(self._block)
            self._pending: list[str] = []
            self._flush_timer: Any = None
            self._flush_lock = asyncio.Lock()  # one hand-over at a time (they await mounts and stops)
            self._last_flush = 0.0  # when the last hand-over started (they start FLUSH_S apart at most)
            self._segment = self._block.source
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

                block = self._block = answer_block()
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
    """The scrolling list of messages, anchored to the bottom.

    After a resize, an answer is drawn at once from its captured lines folded to the new width, and
    rebuilt as Markdown later (`reflow_later`): the ones on screen first, then the rest nearest
    first, one at a time, each only once typing and resizing have paused. Rebuilding every answer
    on every resize stalled the composer for a second or more in a long conversation.
    """

    DEFAULT_CSS = """
    Conversation { height: 1fr; padding: 0 1; }
    Conversation .marker { color: $text-muted; text-style: italic; margin-bottom: 1; }
    Conversation .notice { color: $accent; margin-bottom: 1; }
    """

    def on_mount(self) -> None:
        self.anchor()
        self._stale: set[Any] = set()  # answers waiting for a rebuild at the current width
        self._last_input = self._last_resize = 0.0
        self._reflowing = False

        self._settle_timer: Any = None
        self._released = True  # nothing frozen by this conversation was dropped since the last release

    def on_resize(self, _event: Any) -> None:
        self._last_resize = time.monotonic()

    def settle_later(self) -> None:
        """Stored messages were captured (or answers rebuilt): once things are quiet and no block is
        live, take the lines out of the collector's walk (see `heap`). Unfrozen, every full
        collection walked them: a resize of a long conversation paused for a quarter of a second."""
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_timer = self.set_timer(SETTLE_AFTER_S, self._settle)

    def _settle(self) -> None:
        self._settle_timer = None
        if max(self._last_input, self._last_resize) + REFLOW_QUIET_S > time.monotonic():
            self.settle_later()  # not while the user types or resizes: a settle walks the heap
            return
        blocks = self.query("MessageView > AnswerBlock")
        if self._reflowing or any(not block.is_captured for block in blocks):
            return  # a stream settles its own blocks; a rebuild settles when it is done
        if self._released:
            heap.settle()
        else:  # rebuilt answers dropped lines that were frozen: collect them too
            self._released = True
            heap.release()

    def note_input(self) -> None:
        """The user typed: rebuilds wait for a pause (a Markdown part is parsed and mounted in one go)."""
        self._last_input = time.monotonic()

    async def quiet(self) -> None:
        """Return once neither typing nor resizing has happened for REFLOW_QUIET_S (never await this in
        a handler of this widget: its messages would wait too)."""
        while (wait := max(self._last_input, self._last_resize) + REFLOW_QUIET_S - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    def reflow_later(self, block: Any) -> None:
        """An answer drawn folded at a new width: rebuild it in its turn."""
        self._last_resize = time.monotonic()
        self._stale.add(block)
        if not self._reflowing:
            self._reflowing = True
            self.run_worker(self._reflow(), group="reflow")

    @property
    def reflow_pending(self) -> int:
        """How many answers still wait for a rebuild at the current width."""
        return sum(1 for block in self._stale if block.is_attached and block.stale)

    async def _reflow(self) -> None:
        try:
            while True:
                await self.quiet()
                block = self._nearest_stale()
                if block is None:
                    return
                block.restore()
                self._released = False
                while block.is_attached and block.busy:
                    await asyncio.sleep(REFLOW_POLL_S)
        finally:
            self._reflowing = False
            self.settle_later()

    def _nearest_stale(self) -> Any:
        """The stale answer closest to the view: one on screen first (the topmost), then by how many
        rows away it is."""
        self._stale = {block for block in self._stale if block.is_attached and block.stale}
        if not self._stale:
            return None
        view = self.region

        def distance(block: Any) -> tuple[int, int]:
            region = block.region
            if not region:
                return (1 << 30, 0)
            return (max(0, region.y - view.bottom, view.y - region.bottom), region.y)

        block = min(self._stale, key=distance)
        self._stale.discard(block)
        return block

    async def add_message(self, role: str, text: str = "", label: str = "", msg_id: Any = None) -> MessageView:
        view = MessageView(role, text, label, msg_id)
        await self.mount(view)
        return view

    async def add_notice(self, text: str, classes: str = "notice") -> Static:
        note = Static(text, classes=classes, markup=False)
        await self.mount(note)
        return note

    async def clear(self) -> None:
        await self.remove_children()
        self.call_after_refresh(heap.release)  # the dropped messages' lines were frozen: collect them once

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
