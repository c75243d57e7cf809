"""Slash commands about the conversation itself: /new, /sessions, /retry, /clear, /export, /merge."""

from __future__ import annotations

from pathlib import Path


class ConversationCommands:
    """Part of ChatScreen: starting, reopening and re-sending conversations, and merging the queue."""

    async def cmd_new(self, _arg: str) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self.conv_id = None
        self.conv_title = ""
        self._update_title()
        await self._clear_transcript()
        await self.refresh_queue()
        self.show_info("new conversation")

    async def cmd_sessions(self, _arg: str) -> None:
        from gemtui.tui.screens.sessions import SessionsScreen

        async def chosen(conv_id: int | None) -> None:
            if conv_id is not None:
                await self._resume(str(conv_id))
            elif self.conv_id is not None and self.store.get(self.conv_id) is None:
                await self.cmd_new("")  # the conversation on screen was deleted

        self.app.push_screen(SessionsScreen(self.store, self.conv_id), chosen)

    async def _resume(self, key: str) -> None:
        """Reopen a stored conversation by id or name (`--resume`, /sessions); "" is the latest."""
        if key:
            conv = self.store.find(key)
        else:
            listed = self.store.list(limit=1)
            conv = self.store.get(listed[0].id) if listed else None
        if conv is None:
            self.show_info(f"no stored session {key!r}" if key else "no stored session yet", "warning")
            return
        if self._worker is not None:
            self._worker.cancel()
        self.conv_id = conv.id
        await self._show_conversation()
        self.conv_title = conv.title or conv.name or f"#{conv.id}"
        self._update_title()
        await self.refresh_queue()
        self.pump()

    async def cmd_retry(self, _arg: str) -> None:
        if self.conv_id is None:
            self.show_info("nothing to retry yet")
            return
        if self._worker is not None:
            self.show_info("an answer is being written; Esc cancels it first")
            return
        last_user = next((m for m in reversed(self.store.messages(self.conv_id, include_compacted=False))
                          if m.role == "user" and m.kind != "summary"), None)
        if last_user is None:
            self.show_info("nothing to retry yet")
            return
        await self.enqueue(last_user.text, retry_of=last_user.id)

    async def cmd_clear(self, _arg: str) -> None:
        await self.conversation.clear()
        self.show_info("screen cleared (the session is still stored; /sessions reopens it)")

    async def cmd_export(self, arg: str) -> None:
        if self.conv_id is None:
            self.show_info("nothing to export yet")
            return
        text = self.store.export_markdown(self.conv_id)
        target = Path(arg).expanduser() if arg else Path.cwd() / f"gemtui-session-{self.conv_id}.md"
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.show_info(f"cannot write {target}: {exc.strerror}", "error")
            return
        self.show_info(f"exported to {target}")

    async def cmd_merge(self, _arg: str) -> None:
        """Every waiting prompt becomes one request: one request instead of many saves RPM."""
        items = self._waiting()
        if len(items) < 2:
            self.show_info("merge needs two or more queued messages")
            return
        if self._active_item is not None and self._worker is not None and not self._routed:
            self.stop_sending(requeue=True)  # the head is still waiting: merge it too
        self.queue.merge([i.id for i in items])
        self.show_info(f"merged {len(items)} messages into one request (saves {len(items) - 1} of RPM)")
        await self.refresh_queue()
        self.call_later(self.pump)
