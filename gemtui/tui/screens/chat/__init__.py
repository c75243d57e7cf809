"""The chat screen, split by job: the screen itself, the send loop, the transcript, the slash commands."""

from gemtui.tui.screens.chat.screen import ChatScreen

__all__ = ["ChatScreen"]
