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
SEGMENT_CHARS = 3000  # past this, a streamed answer continues in a new Markdown block


async def _stop(stream: Any) -> None:
    """Stop a MarkdownStream; its task must have started once, or stop() raises CancelledError."""
    await asyncio.sleep(0)
    await stream.stop()


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
        from textual.widgets import Markdown

        yield Static(self._label or ("you" if self.role == "user" else "…"), classes="label")
        yield Markdown(self.text)
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

            self._stream = Markdown.get_stream(self.query_one(Markdown))
            self._pending: list[str] = []
            self._flush_timer: Any = None
            self._segment = self.text
        self.text += fragment
        self._pending.append(fragment)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_S, self._flush)

    async def _flush(self) -> None:
        self._flush_timer = None
        if self._stream is None or not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._segment += text
        cut = self._segment.rfind("\n\n")
        if len(self._segment) > SEGMENT_CHARS and cut > 0 and self._segment[:cut].count("```") % 2 == 0:
            # Long answers continue in a fresh Markdown block at a paragraph boundary outside code, so
            # each append re-parses a few KB instead of the whole answer and the loop stays responsive.
            head_len = cut + 2 - (len(self._segment) - len(text))
            head, tail = text[:max(0, head_len)], text[max(0, head_len):]
            if head:
                await self._stream.write(head)
            await _stop(self._stream)
            from textual.widgets import Markdown

            block = Markdown()
            await self.mount(block, before=self.query_one(".status"))
            self._stream = Markdown.get_stream(block)
            self._segment = tail
            text = tail
        if text:
            await self._stream.write(text)

    async def end_stream(self) -> None:
        if self._stream is not None:
            if self._flush_timer is not None:
                self._flush_timer.stop()
            await self._flush()
            stream, self._stream = self._stream, None
            await _stop(stream)


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

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
