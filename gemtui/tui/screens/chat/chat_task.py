"""The one chat task: at most one worker talks to a model for the chat screen at a time.

A prompt being sent and a /compact summary are both chat tasks; whatever starts one (the send
loop's `pump`, /compact) first asks `busy`, and whatever stops one (Esc, /new, a profile switch)
goes through `cancel`. The task clears the slot itself when it ends (`finished`), so a new one can
start only after the last one has settled the queue and the stored conversation.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.worker import Worker


class WorkerOwner(Protocol):
    """What runs the task's worker (the chat screen): Textual's `run_worker`."""

    def run_worker(
        self,
        work: Coroutine[object, object, None],
        *,
        group: str = "default",
        exclusive: bool = False,
        exit_on_error: bool = True,
    ) -> Worker[None]: ...


class ChatTask:
    """The slot of the chat screen's one chat task (a Textual worker in the "send" group)."""

    def __init__(self) -> None:
        self.worker: Worker[None] | None = None

    @property
    def busy(self) -> bool:
        """A prompt or a summary is being sent (or waits for its model)."""
        return self.worker is not None

    def start(self, owner: WorkerOwner, work: Coroutine[object, object, None]) -> Worker[None] | None:
        """Run `work` as the chat task, unless one runs already (then `work` is closed, not run)."""
        if self.worker is not None:
            work.close()
            return None
        self.worker = owner.run_worker(work, group="send", exit_on_error=False)
        return self.worker

    def cancel(self) -> None:
        """Cancel the chat task, if any; it settles and calls `finished` itself."""
        if self.worker is not None:
            self.worker.cancel()

    def finished(self) -> None:
        """Called by the task as it ends: the slot is free for the next one."""
        self.worker = None
