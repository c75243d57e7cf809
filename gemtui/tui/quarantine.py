"""Stored rows the screen cannot show or send are set aside with a one-line notice, never crashed on.

A queue item or a stored message with bad data (a prompt stored as bytes, a countdown that is not a
number, a role nobody knows) would otherwise raise each time it is drawn or sent, and since the queue
and the sessions outlive the process, at every start again: a crash loop. Each such row is checked
before it reaches a widget; one that fails is marked in its store so it is not picked again (a queue
item becomes `quarantined`; a message becomes an error that is never sent as history), the
traceback goes to the log, and the app carries on with the rest.
"""

from __future__ import annotations

import logging
from numbers import Real
from typing import Any

from gemtui.errors import one_line

log = logging.getLogger(__name__)


def _optional(value: Any, kind: type | tuple[type, ...], what: str) -> None:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise TypeError(f"{what} is {type(value).__name__}")


def check_queue_item(item: Any, now: float) -> None:
    """Raise if the queue panel could not show `item` or the send loop could not send it."""
    from gemtui.tui.widgets.queue_panel import preview, row_text

    if not isinstance(item.prompt, str):
        raise TypeError(f"its prompt is {type(item.prompt).__name__}, not text")
    if not isinstance(item.preference, str):
        raise TypeError(f"its model preference is {type(item.preference).__name__}, not text")
    _optional(item.eta, Real, "its countdown")
    _optional(item.reason, str, "its reason")
    _optional(item.message_id, int, "its message id")
    preview(item.prompt)
    row_text(item, now)


def sound_queue_items(screen: Any, items: list[Any]) -> list[Any]:
    """`items` without those that cannot be shown or sent; each of those is quarantined with a notice."""
    now = screen.now
    sound = []
    for item in items:
        try:
            check_queue_item(item, now)
        except Exception as exc:
            why = one_line(exc)
            log.error("queue item %s cannot be shown or sent; quarantined", item.id, exc_info=exc)
            try:
                screen.queue.quarantine(item.id, f"quarantined: {why}")
            except Exception:  # noted in the log; left out of the panel and the send loop all the same
                log.exception("queue item %s could not be marked quarantined", item.id)
            screen.show_info(
                f"queued message {item.id} cannot be shown or sent ({why}); set aside, the rest of the queue goes on",
                "warning",
            )
        else:
            sound.append(item)
    return sound


def check_message(msg: Any) -> None:
    """Raise if the transcript could not show the stored message `msg`."""
    from gemtui.chat.sessions import KINDS, ROLES, STATUSES
    from gemtui.tui.widgets.conversation import answer_label

    if msg.role not in ROLES:
        raise ValueError(f"its role is {msg.role!r}")
    if not isinstance(msg.text, str):
        raise TypeError(f"its text is {type(msg.text).__name__}, not text")
    if msg.status not in STATUSES or msg.kind not in KINDS:
        raise ValueError(f"its status/kind is {msg.status!r}/{msg.kind!r}")
    _optional(msg.error, str, "its error")
    _optional(msg.model, str, "its model")
    if msg.role == "model":
        answer_label(msg.model, msg.input_tokens, msg.output_tokens, msg.latency_s, thoughts_tokens=msg.thoughts_tokens)


async def set_message_aside(screen: Any, msg: Any, exc: Exception) -> None:
    """A stored message that cannot be shown: a notice in its place, marked so it is never sent again."""
    why = one_line(exc)
    already = isinstance(msg.error, str) and msg.error.startswith("quarantined")
    if not already:
        log.error("stored message %s cannot be shown; quarantined", msg.id, exc_info=exc)
        try:
            screen.store.update_message(msg.id, status="error", error=f"quarantined: {why}")
        except Exception:
            log.exception("stored message %s could not be marked quarantined", msg.id)
    await screen.conversation.add_notice(
        f"⚠ stored message {msg.id} cannot be shown ({why}); set aside, it is not sent again", classes="marker"
    )
