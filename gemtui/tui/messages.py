"""Textual messages the widgets post upwards: user intents the screen turns into core calls."""

from __future__ import annotations

from textual.message import Message


class PromptSubmitted(Message):
    """The composer's text on Enter (a prompt or a slash command)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class QueueCancel(Message):
    def __init__(self, item_id: str) -> None:
        super().__init__()
        self.item_id = item_id


class QueueEdit(Message):
    def __init__(self, item_id: str) -> None:
        super().__init__()
        self.item_id = item_id


class QueueMerge(Message):
    """Merge every waiting item into one request (one request instead of many saves RPM)."""
