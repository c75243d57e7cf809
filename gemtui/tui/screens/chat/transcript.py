"""The conversation as shown: stored messages numbered (`#3`, what /pin N refers to; the number is the
message's stored ordinal, the same after a resume), pins in their labels, and the context marker
above the first message the next request sends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from textual.widgets import Static

from gemtui.tui.widgets.conversation import MessageView, answer_label, attachment_lines, image_lines

if TYPE_CHECKING:
    from gemtui.chat.context import ContextPlan
    from gemtui.chat.images_out import SavedImage
    from gemtui.chat.sessions import Message, SessionStore


class TranscriptMixin:
    """Part of ChatScreen; uses its `conversation`, `store`, `conv_id`, `preference`, `session()`,
    and owns `_numbers` (stored message id -> number shown) and `_pinned`."""

    _numbers: dict[int, int]
    _pinned: set[int]

    @property
    def numbers(self) -> Mapping[int, int]:
        """Stored message id -> the number it is shown with (`#3`)."""
        return self._numbers

    async def clear_transcript(self) -> None:
        """An empty conversation on screen; numbering starts again at #1."""
        self._numbers, self._pinned = {}, set()
        await self.conversation.clear()

    async def show_conversation(self) -> None:
        """(Re)draw the stored conversation: numbered messages, pins, the context marker."""
        await self.clear_transcript()
        from gemtui.tui.quarantine import check_message, set_message_aside

        ordinals = self.store.ordinals(self.conv_id)
        for msg in self.store.messages(self.conv_id, include_compacted=False):
            try:
                check_message(msg)
            except Exception as exc:  # bad data in the stored row: set aside, the rest is shown
                await set_message_aside(self, msg, exc)
                continue
            if msg.id in ordinals:
                self._numbers[msg.id] = ordinals[msg.id]
            view = await self._add_view(msg)
            if msg.role == "model" and msg.status in ("partial", "error", "pending"):
                view.set_status(f"{'cut' if msg.text else 'failed'}: {msg.error or 'interrupted'} — /retry", error=True)
            elif msg.role == "user" and msg.status == "error":
                view.set_status(f"not sent: {msg.error or 'failed'}", error=True)
        session = self.session()
        if session is not None:
            session.reload()  # after the loop: what it set aside is never sent as history
        await self.refresh_marker()

    def _number(self, msg_id: int | None) -> int | None:
        """The number a message is shown with (`#3`): its stored ordinal in the conversation
        (`SessionStore.ordinal`), so it is the same after a restart or resume; /pin N uses it."""
        if msg_id is None:
            return None
        number = self._numbers.get(msg_id)
        if number is None:
            store: SessionStore | None = getattr(self, "store", None)
            number = store.ordinal(msg_id) if store is not None else None
            if number is None:  # not stored (yet): after every number shown
                number = max(self._numbers.values(), default=0) + 1
            self._numbers[msg_id] = number
        return number

    def image_previews(self, images: Iterable[SavedImage]) -> list[str]:
        """The paths of images to draw in the conversation: none where the app says the terminal cannot."""
        app = getattr(self, "app", None)
        if app is None or not getattr(app, "image_previews", False):
            return []
        return [image.path for image in images]

    def _set_label(self, view: MessageView, base: str) -> None:
        """`#3 pinned · you`: the base label is kept on the view so a pin change can re-label it."""
        view.gemtui_base_label = base  # type: ignore[attr-defined]
        number = self._numbers.get(view.msg_id) if view.msg_id is not None else None
        prefix = f"#{number} " if number is not None else ""
        pin = "pinned · " if view.msg_id in self._pinned else ""
        view.set_label(f"{prefix}{pin}{base}")

    def show_pin(self, msg_id: int, pinned: bool) -> None:
        """A message's pin changed: its label says so."""
        (self._pinned.add if pinned else self._pinned.discard)(msg_id)
        self._relabel(msg_id)

    def _relabel(self, msg_id: int) -> None:
        """Label a message shown again from its kept base label (after its pin changed)."""
        for view in self.conversation.messages():
            if view.msg_id == msg_id:
                self._set_label(view, getattr(view, "gemtui_base_label", view._label))

    async def _add_view(self, msg: Message) -> MessageView:
        """A stored message on screen, numbered, its pin shown."""
        if msg.pinned:
            self._pinned.add(msg.id)
        self._number(msg.id)
        if msg.role == "user":
            base = "summary (/compact)" if msg.kind == "summary" else "you"
        else:
            base = answer_label(
                msg.model,
                msg.input_tokens,
                msg.output_tokens,
                msg.latency_s,
                thoughts_tokens=msg.thoughts_tokens,
                cached=msg.cached,
            )
        # labelled from the start: between the mount and _set_label a reader saw a message with no label
        view = await self.conversation.add_message(msg.role, msg.text, base, msg.id)
        self._set_label(view, base)
        if msg.attachments or msg.images:
            await view.show_files(
                attachment_lines(msg.attachments) + image_lines(msg.images), self.image_previews(msg.images)
            )
        return view

    async def show_marker(self, plan: ContextPlan | None) -> None:
        """`14 earlier messages not sent — /context` above the first message the plan sends."""
        for old in list(self.conversation.query("#context-marker")):
            await old.remove()
        if plan is None or not plan.marker or plan.first_sent_id is None:
            return
        target = next((v for v in self.conversation.messages() if v.msg_id == plan.first_sent_id), None)
        if target is None:
            return
        marker = Static(plan.marker, id="context-marker", classes="marker", markup=False)
        await self.conversation.mount(marker, before=target)

    async def refresh_marker(self) -> None:
        """The marker for the next request to the preferred model (after a send, /model, /pin, …)."""
        session = self.session()
        if session is None:
            await self.show_marker(None)
            return
        plan, _error = session.next_plan(self.preference)
        await self.show_marker(plan)
