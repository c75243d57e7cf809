"""What a slash-command handler may use: the declared context.

The chat screen satisfies this protocol; a handler sees these members and nothing else of it, so a
command cannot come to depend on how the screen keeps its state.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from textual.screen import Screen, ScreenResultCallbackType
    from textual.worker import Worker

    from gemtui.chat.compact import CompactionJob
    from gemtui.chat.context import ContextPlan
    from gemtui.chat.conversation import ChatSession
    from gemtui.chat.queue import QueueItem, RequestQueue
    from gemtui.chat.sessions import SessionStore
    from gemtui.quota.gauges import Gauge
    from gemtui.runtime import Runtime
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.chat.chat_task import ChatTask
    from gemtui.tui.widgets.conversation import Conversation
    from gemtui.tui.widgets.quota_panel import QuotaPanel

ResultT = TypeVar("ResultT")


class SlashContext(Protocol):
    """The chat screen as slash commands see it."""

    # ---- what is sent, and how (read and set) ----
    conv_id: int | None  # the conversation on screen (None: the next prompt starts one)
    conv_title: str
    preference: str  # "auto" or a model id
    policy: str  # what auto mode does at a limit: switch, wait, ask

    # ---- the stores and the runtime (None until started / connected) ----
    @property
    def store(self) -> SessionStore | None: ...
    @property
    def queue(self) -> RequestQueue | None: ...
    @property
    def runtime(self) -> Runtime | None: ...
    @property
    def gemtui_app(self) -> GemtuiApp: ...
    @property
    def now(self) -> float: ...

    # ---- the one chat task (a prompt or a summary being sent) ----
    @property
    def chat_task(self) -> ChatTask: ...
    @property
    def active_item(self) -> QueueItem | None: ...
    @property
    def routed(self) -> bool: ...
    def stop_sending(self, requeue: bool) -> None: ...
    def pump(self) -> None: ...
    async def enqueue(self, prompt: str, retry_of: int | None = None) -> None: ...
    def waiting_here(self) -> list[QueueItem]: ...
    def session(self) -> ChatSession | None: ...
    def use_runtime(self, runtime: Runtime) -> None: ...

    # ---- /compact's summary request (until the turn runner runs it) ----
    def _admissible_summariser(
        self, session: ChatSession, plan: ContextPlan
    ) -> tuple[CompactionJob | None, dict[str, Gauge] | None, str]: ...
    async def _compact(self, job: CompactionJob) -> None: ...

    # ---- what the screen shows ----
    @property
    def conversation(self) -> Conversation: ...
    @property
    def quota_panel(self) -> QuotaPanel: ...
    @property
    def numbers(self) -> Mapping[int, int]: ...  # stored message id -> number shown (`#3`)
    def show_info(self, text: str, severity: str = "information") -> None: ...
    def update_title(self) -> None: ...
    def refresh_gauges(self) -> None: ...
    async def refresh_queue(self) -> None: ...
    async def refresh_marker(self) -> None: ...
    async def clear_transcript(self) -> None: ...
    async def show_conversation(self) -> None: ...
    def show_pin(self, msg_id: int, pinned: bool) -> None: ...
    def push_screen(
        self, screen: Screen[ResultT], callback: ScreenResultCallbackType[ResultT] | None = None
    ) -> object: ...
    def call_later(self, callback: Callable[..., object], *args: object) -> bool: ...
    def run_worker(
        self,
        work: Coroutine[object, object, None],
        *,
        group: str = "default",
        exclusive: bool = False,
        exit_on_error: bool = True,
    ) -> Worker[None]: ...
