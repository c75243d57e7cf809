"""The main screen: conversation, composer, quota and queue panels, the status and routing lines.

The screen lays itself out and keeps the live parts fresh (gauges, countdowns, the routing line);
the send loop is `dispatch`, the conversation as shown is `transcript`, one chat task at a time is
`chat_task`. Slash commands are handlers registered in `gemtui.tui.slash`: the screen is the
`SlashContext` they receive, and the composer, the palette and key bindings all reach them through
`gemtui.tui.slash.run_slash`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from gemtui.timefmt import duration
from gemtui.tui import slash
from gemtui.tui.literal import visible
from gemtui.tui.messages import PromptSubmitted, QueueCancel, QueueEdit, QueueMerge
from gemtui.tui.screens.chat.chat_task import ChatTask
from gemtui.tui.screens.chat.compaction import CompactionMixin
from gemtui.tui.screens.chat.transcript import TranscriptMixin
from gemtui.tui.slash import conversation as conversation_slash
from gemtui.tui.textual_compat import layout_then_draw_next_turn
from gemtui.tui.widgets.composer import Composer
from gemtui.tui.widgets.conversation import Conversation

if TYPE_CHECKING:
    from textual.geometry import Size
    from textual.screen import ScreenResultCallbackType
    from textual.widgets import TextArea

    from gemtui.chat.context import ContextPlan
    from gemtui.chat.conversation import ChatSession
    from gemtui.chat.queue import QueueItem, RequestQueue
    from gemtui.chat.sessions import SessionStore
    from gemtui.chat.tokens import TokenEstimator
    from gemtui.quota.breaker import CircuitView
    from gemtui.quota.gauges import Gauge
    from gemtui.runtime import Runtime
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.chat.dispatch import Dispatcher
    from gemtui.tui.widgets.queue_panel import QueuePanel
    from gemtui.tui.widgets.quota_panel import QuotaPanel

ResultT = TypeVar("ResultT")
WIDE_FROM = 100  # terminal columns from which the side panel is shown beside the conversation
LEVEL_RANK = {"normal": 0, "na": 0, "warning": 1, "critical": 2, "blocked": 2}


def free_at(gauges: dict[str, Gauge], now: float) -> float | None:
    """When a model has room again: the latest block or full window among its dimensions."""
    times = []
    for gauge in gauges.values():
        if gauge.blocked_until and gauge.blocked_until > now:
            times.append(gauge.blocked_until)
        elif gauge.limit and gauge.used >= gauge.limit and gauge.resets_at:
            times.append(gauge.resets_at)
    return max(times) if times else None


class StoreWarned(Message):
    """A store warning (storage.py listener), posted from whichever thread met it."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class ChatScreen(CompactionMixin, TranscriptMixin, Screen[None]):
    """The parts of the screen live in its mixins; the state they share is all set up here. It is the
    `gemtui.tui.slash.context.SlashContext` every slash command receives."""

    # Its stylesheet, chat.tcss, is the app's CSS_PATH (it is the default screen; see GemtuiApp).
    BINDINGS = [
        Binding("escape", "cancel_answer", "Cancel answer"),
        Binding("ctrl+n", "slash('new')", "New"),
        Binding("ctrl+o", "slash('model')", "Model"),
        # priority: the composer's TextArea binds Ctrl+U itself (delete to line start)
        Binding("ctrl+u", "slash('quota')", "Quota", priority=True),
        Binding("ctrl+s", "slash('sessions')", "Sessions"),
        Binding("ctrl+r", "slash('retry')", "Retry"),
        Binding("f1", "slash('help')", "Help"),
        # the newest image an answer carried, in the system's viewer (the same as /open)
        Binding("ctrl+g", "slash('open')", "Open image", show=False),
        Binding("ctrl+t", "slash('theme')", "Theme", show=False),
        Binding("ctrl+b", "toggle_panel", "Panel", show=False),
    ]
    # Below WIDE_FROM columns the side panel would leave the conversation too narrow to read: it is
    # hidden and one line above the status says how the active model stands (Ctrl+B shows it).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_FROM, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        # The class the first Resize would give the screen (HORIZONTAL_BREAKPOINTS), given now: set
        # then it restyled every widget once more before the first frame. Without a running app (a
        # screen built alone) the Resize sets it.
        with contextlib.suppress(Exception):
            self.add_class("-wide" if self.app.size.width >= WIDE_FROM else "-narrow")
        # what is sent, and how
        self.conv_id: int | None = None
        self.conv_title = ""
        self.preference = "auto"
        self.policy = "switch"
        self.threshold_s = 20.0
        self.store: SessionStore | None = None
        self.queue: RequestQueue | None = None
        # the one chat task (a prompt or a /compact summary being sent), and the send loop that renders
        # the turn runner's events for a prompt (dispatch)
        self.chat_task = ChatTask()
        self._dispatcher: Dispatcher | None = None  # made at first use: its turn runner is not needed to draw
        self._session: ChatSession | None = None  # the conversation on screen (gemtui.tui.turns)
        self._estimator: TokenEstimator | None = None  # one calibrated token estimator for every conversation
        self.last_plan: ContextPlan | None = None  # the plan the last routed request was sent with
        # the transcript
        self._numbers: dict[int, int] = {}  # stored message id -> number shown (`#3`), for /pin N
        self._pinned: set[int] = set()
        # gauges and the routing line
        self._levels: dict[tuple[str, str], str] = {}
        self._last_switch: tuple[str, str] | None = None  # (preferred, used) while a switch is in force
        self._routing_until: float | None = None
        self._routing_text = ""
        self.last_gauges: dict[str, dict[str, Gauge]] = {}
        self.last_circuits: dict[str, CircuitView] = {}  # engine.circuits(): breakers read with the gauges
        self._queued: list[QueueItem] = []  # queue items shown (for the narrow layout's quota line)
        # the status line's wait, counted down each tick: (text before, until, text after, busy)
        self._countdown: tuple[str, float, str, bool] | None = None
        # store warnings (a file moved aside) shown once each, and the listener that brings them
        self._store_warnings_shown: set[str] = set()
        self._stop_store_warnings: Callable[[], None] | None = None

    # ---- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"), Vertical(id="chat"):
            yield Conversation(id="conversation")
            # Exception, model and server text are shown as they are, never parsed as markup.
            yield Static("", id="runtime-error", markup=False)
            yield Static("", id="routing", markup=False)
            yield Static("connecting…", id="status", markup=False)
            yield Composer(slash.REGISTRY.completions, id="composer")
        # The side panels and the Footer follow right after the first frame (_after_first_frame):
        # styling them was ~40 % of start-up to first paint, and their modules are imported only then.

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        """Lay the screen out now and draw it on the event loop's next turn, not in the same breath.

        While an answer streams the screen lays out and draws many times a second, each in one go
        (together 20-40 ms on a slow machine): a key typed meanwhile waited for both. Textual draws
        on the next turn by itself inside `batch_update`; marking the layout as such a batch lets
        the composer handle a key between the layout and the draw."""
        layout_then_draw_next_turn(self, size, scroll)

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def quota_panel(self) -> QuotaPanel:
        """The QuotaPanel (mounted after the first frame, so its module is not imported before it)."""
        return cast("QuotaPanel", self.query_one("#quota"))

    @property
    def queue_panel(self) -> QueuePanel:
        """The QueuePanel (mounted after the first frame)."""
        return cast("QueuePanel", self.query_one("#queue"))

    @property
    def gemtui_app(self) -> GemtuiApp:
        """The app, with its own members (runtime, config, themes) typed."""
        return cast("GemtuiApp", self.app)

    @property
    def runtime(self) -> Runtime | None:
        return self.gemtui_app.runtime

    @property
    def now(self) -> float:
        runtime = self.runtime
        return runtime.engine.clock.now() if runtime is not None else time.time()

    def on_mount(self) -> None:
        app = self.gemtui_app
        config = app.config
        if config is not None:
            self.preference = app.model_preference or config.model
            self.policy = config.on_limit
            self.threshold_s = config.wait_threshold_s
        elif app.model_preference:
            self.preference = app.model_preference
        self.composer.area.focus()
        self.call_after_refresh(self._after_first_frame)

    def on_key(self, event: events.Key) -> None:
        """A character typed while the conversation holds the focus (Tab moved it there, or a click did)
        goes into the composer instead of nowhere: typing never vanishes. Other widgets (the queue panel's
        letter keys) keep theirs."""
        if not event.is_printable or event.character is None:
            return
        focused = self.focused
        if focused is not None and self.conversation not in focused.ancestors_with_self:
            return
        event.stop()
        event.prevent_default()
        area = self.composer.area
        area.focus()
        area.insert(event.character)

    async def _after_first_frame(self) -> None:
        from textual.widgets import Footer

        from gemtui.tui.widgets.gauges import GaugeLine
        from gemtui.tui.widgets.queue_panel import QueuePanel
        from gemtui.tui.widgets.quota_panel import QuotaPanel

        body = self.query_one("#body")
        if not body.is_attached:  # quit before the first frame's follow-up ran: nothing to add to
            return
        await body.mount(Vertical(QuotaPanel(id="quota"), QueuePanel(id="queue"), id="side"))
        await self.query_one("#chat").mount(GaugeLine(id="quota-line"), before="#status")
        await self.mount(Footer())
        self.set_interval(self.gemtui_app.clock_tick_s, self.tick)
        self.run_worker(self._start(), group="start")

    async def _start(self) -> None:
        """Open the stores, resume, offer what waits. A quit during these steps (Ctrl+Q at once) takes the
        widgets they fill away under them: that ends the start, it is not a crash."""
        from textual.css.query import NoMatches

        try:
            await self._start_steps()
        except NoMatches:
            if self.app.is_running and self.is_attached:
                raise

    async def _start_steps(self) -> None:
        from gemtui import storage

        app = self.gemtui_app
        # A store moved aside or rebuilt later (corruption met by a statement, any thread) says so too.
        self._stop_store_warnings = storage.add_listener(lambda line: self.post_message(StoreWarned(line)))
        await app.runtime_ready.wait()
        self._open_stores()  # sqlite objects must stay on the UI thread
        if app.runtime_error:
            box = self.query_one("#runtime-error", Static)
            box.update(f"cannot start: {app.runtime_error}")
            box.display = True
        runtime = self.runtime
        engine_warnings = getattr(runtime.engine, "warnings", []) if runtime is not None else []
        for warning in [*engine_warnings, *self.store.warnings, *self.queue.warnings]:
            self.show_store_warning(warning)
        if app.resume is not None:
            await conversation_slash.resume(self, app.resume)
        self.update_title()
        self.refresh_gauges()
        await self.refresh_queue()
        await conversation_slash.offer_waiting(self)  # what an earlier gemtui left in the queue, whatever the flags
        self.pump()

    def _open_stores(self) -> None:
        from gemtui.chat.queue import RequestQueue
        from gemtui.chat.sessions import SessionStore

        self.store = SessionStore()
        self.queue = RequestQueue()
        self.queue.recover()

    def show_store_warning(self, line: str) -> None:
        """One notice per store warning (a moved-aside file, a rebuilt store), however it arrived."""
        if line in self._store_warnings_shown:
            return
        self._store_warnings_shown.add(line)
        from gemtui.errors import scrub

        self.notify(visible(scrub(line)), severity="warning", timeout=20, markup=False)

    @on(StoreWarned)
    def _on_store_warned(self, message: StoreWarned) -> None:
        self.show_store_warning(message.line)

    def on_unmount(self) -> None:
        stop = self._stop_store_warnings
        if stop is not None:
            stop()

    # ---- title and status line -------------------------------------------------------------------

    def update_title(self) -> None:
        runtime = self.runtime
        if runtime is None:
            self.sub_title = "not connected"
        else:
            title = f" — {visible(self.conv_title)}" if self.conv_title else ""
            backup = f" (backup: {runtime.backup.profile_name})" if runtime.backup is not None else ""
            self.sub_title = (
                f"{runtime.profile_name}{backup} · {runtime.tier} · {self.preference} · on limit: {self.policy}{title}"
            )
        self.query_one("#status", Static).update(self._idle_status())

    def _idle_status(self) -> str:
        if self.runtime is None:
            return "not connected — /auth, /help" if self.gemtui_app.runtime_ready.is_set() else "connecting…"
        return "Enter send · Shift/Alt+Enter or Ctrl+J new line · / commands · Esc cancel · Tab queue"

    def set_status(self, text: str, busy: bool = False) -> None:
        self._countdown = None
        status = self.query_one("#status", Static)
        status.update(text or self._idle_status())
        status.set_class(busy, "-busy")

    def set_countdown(self, before: str, until: float, after: str = "", busy: bool = True) -> None:
        """A status line with a wait in it (`waiting for gemini-2.5-pro (0:23)`): `tick` counts it
        down from the screen's clock until another status replaces it."""
        self._countdown = None
        self._paint_countdown((before, until, after, busy), self.now)

    def _paint_countdown(self, countdown: tuple[str, float, str, bool] | None, now: float) -> None:
        if countdown is None:
            return
        before, until, after, busy = countdown
        text = f"{before}{duration(until - now)}{after}"
        if self._countdown is None or str(self.query_one("#status", Static).content) != text:
            self.set_status(text, busy)
        self._countdown = countdown

    def show_info(self, text: str, severity: str = "information") -> None:
        """A notice; its text (often a prompt, a title or a server's words) is shown as it is."""
        self.notify(visible(text), severity=severity, timeout=6, markup=False)  # type: ignore[arg-type]

    # ---- what slash commands may use besides (see gemtui.tui.slash.context) ----------------------

    def push_screen(self, screen: Screen[ResultT], callback: ScreenResultCallbackType[ResultT] | None = None) -> object:
        return self.app.push_screen(screen, callback)

    @property
    def dispatcher(self) -> Dispatcher:
        """The send loop; its module brings the turn runner and the whole chat stack, so it is imported
        when first needed (a prompt, the queue), never before the first frame."""
        if self._dispatcher is None:
            from gemtui.tui.screens.chat.dispatch import Dispatcher

            self._dispatcher = Dispatcher(self)
        return self._dispatcher

    @property
    def active_item(self) -> QueueItem | None:
        """The queue item the chat task is sending."""
        return self._dispatcher.item if self._dispatcher is not None else None

    @property
    def routed(self) -> bool:
        """A model has taken the prompt being sent (before that, it can go back in line)."""
        return self._dispatcher is not None and self._dispatcher.routed

    def waiting_here(self) -> list[QueueItem]:
        """Queued prompts of this conversation typed here (a /merge takes them)."""
        return self.dispatcher.waiting_here()

    # ---- the send loop (dispatch.Dispatcher) ------------------------------------------------------

    async def enqueue(self, prompt: str, retry_of: int | None = None) -> None:
        await self.dispatcher.enqueue(prompt, retry_of)

    def pump(self) -> None:
        self.dispatcher.pump()

    def stop_sending(self, requeue: bool) -> None:
        self.dispatcher.stop_sending(requeue)

    def session(self) -> ChatSession | None:
        return self.dispatcher.session()

    def waiting_items(self) -> list[QueueItem]:
        return self.dispatcher.waiting_items()

    def settle_for_exit(self, *, keep: bool, reason: str) -> None:
        if self._dispatcher is None and self.queue is None:
            return  # nothing was sent and no queue was opened: nothing to settle
        self.dispatcher.settle_for_exit(keep=keep, reason=reason)

    def use_runtime(self, runtime: Runtime) -> None:
        """Send through `runtime` from now on (another profile): its budget and gauges start afresh."""
        app = self.gemtui_app
        app.runtime, app.runtime_error = runtime, None
        self.query_one("#runtime-error", Static).display = False
        self._session = None  # the budget follows the new project's TPM
        self._levels.clear()

    # ---- live refresh: gauges, queue countdowns --------------------------------------------------

    def _panel_models(self) -> tuple[str, tuple[str, ...]]:
        """(active model, fallbacks) for the quota panel."""
        from gemtui.chat.router import route_chain
        from gemtui.quota.limits import resolve_model

        chain = route_chain()  # the configured route chain (links to other profiles too)
        if self.preference in ("", "auto"):
            return chain[0], tuple(chain[1:])
        active = resolve_model(self.preference)
        return active, tuple(m for m in chain if m != active)

    def refresh_gauges(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        active, fallbacks = self._panel_models()
        try:
            gauges = runtime.engine.gauges(runtime.project, (active, *fallbacks))
            circuits = runtime.engine.circuits((active, *fallbacks))
        except Exception as exc:  # a locked/corrupt ledger must not take the screen down
            from gemtui.errors import one_line

            line = f"quota engine: {one_line(exc)}"
            if line != str(self.query_one("#status", Static).render()):  # logged once, not each tick
                from gemtui.log import get_logger

                get_logger(__name__).exception("reading the gauges failed")
            self.set_status(line)
            return
        self.last_gauges, self.last_circuits = gauges, circuits
        now = self.now
        self.quota_panel.show(
            active, fallbacks, gauges, now, circuits, banner=getattr(runtime.engine.ledger, "banner", None)
        )
        self._show_quota_line(active, gauges, now)
        self._threshold_notices(gauges, now)

    def _show_quota_line(self, active: str, gauges: dict[str, dict[str, Gauge]], now: float) -> None:
        """The narrow layout's stand-in for the side panel: the active model, and the queue."""
        from gemtui.tui.widgets.gauges import circuit_line, compact_line

        circuit = circuit_line(self.last_circuits.get(active), now)  # an open circuit says more than usage
        text, lvl = circuit or compact_line(active, gauges.get(active, {}), now)
        if self._queued:
            eta = self._queued[0].eta
            text += f" · {len(self._queued)} queued" + (f", next in {duration(eta - now)}" if eta else "")
        for line in self.query("#quota-line"):  # mounted after the first frame
            line.show(text + " · Ctrl+B panel", lvl, prefix=f"{active}  ")

    def action_toggle_panel(self) -> None:
        """Show the side panel on a narrow terminal, or hide it on a wide one."""
        self.toggle_class("-panel-toggled")

    def _threshold_notices(self, gauges: dict[str, dict[str, Gauge]], now: float) -> None:
        """A toast when a gauge climbs past 80 %, 95 % or into a block (once per climb, not per tick)."""
        from gemtui.tui.widgets.gauges import level, threshold_notice

        for model, dims in gauges.items():
            for dim, gauge in dims.items():
                lvl = level(gauge, now)
                before = self._levels.get((model, dim), "normal")
                self._levels[(model, dim)] = lvl
                if LEVEL_RANK[lvl] > LEVEL_RANK[before]:
                    self.notify(
                        threshold_notice(model, dim, gauge, now),
                        severity="error" if LEVEL_RANK[lvl] >= 2 else "warning",
                        timeout=6,
                        markup=False,
                    )

    def tick(self) -> None:
        """~1 Hz: gauges, queue countdowns, the routing notice and the status line's wait (each repaints
        only on change), all read from the engine's clock."""
        self.refresh_gauges()
        now = self.now
        self.queue_panel.tick(now)
        self._paint_routing(now)
        self._paint_countdown(self._countdown, now)

    async def refresh_queue(self) -> None:
        if self.queue is None:
            return
        from gemtui.tui.quarantine import sound_queue_items

        items = sound_queue_items(
            self, [i for i in self.queue.items() if i.batch_id is None and i.conversation_id == self.conv_id]
        )
        active = self.active_item.id if self.active_item is not None and self.routed else None
        self._queued = [i for i in items if i.id != active]
        now = self.now
        panel = self.queue_panel
        focused = self.focused
        await panel.show_items(self._queued, now)
        if not panel.display and (focused is None or panel in focused.ancestors_with_self):
            self.composer.area.focus()  # the panel emptied under the cursor: typing goes to the composer
        if self.last_gauges:  # the quota line counts the queue too
            self._show_quota_line(self._panel_models()[0], self.last_gauges, now)

    # ---- the routing line: which model answers while the preferred one is at a limit --------------

    def show_switch(self, preferred: str, used: str, note: str) -> None:
        """A switch is in force: the line stays, counting down to when `preferred` is free again."""
        self.refresh_gauges()
        now = self.now
        until = free_at(self.last_gauges.get(preferred, {}), now)
        self._last_switch = (preferred, used)
        self._routing_text, self._routing_until = note, until
        self._paint_routing(now)
        self.notify(visible(note), severity="warning", timeout=6, markup=False)

    def is_switched_from(self, model: str) -> bool:
        """Whether `model` is the preferred model a switch in force moved away from."""
        return self._last_switch is not None and model == self._last_switch[0]

    def end_switch(self, note: str) -> None:
        self._last_switch = None
        self._routing_text, self._routing_until = "", None
        self._paint_routing(self.now)
        self.notify(visible(note), timeout=5, markup=False)

    def _paint_routing(self, now: float) -> None:
        routing = self.query_one("#routing", Static)
        if not self._routing_text:
            routing.remove_class("-shown")
            return
        text = self._routing_text
        if self._routing_until:
            left = self._routing_until - now
            pref = self._last_switch[0] if self._last_switch else "the preferred model"
            text += f"; {pref} free in {duration(left)}" if left > 0 else f"; {pref} is free again"
        if str(routing.content) != text:
            routing.update(text)
        routing.add_class("-shown")

    # ---- input: prompts, slash commands, key bindings, the queue panel ----------------------------

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        self.conversation.note_input()  # answers re-laid after a resize wait for a pause in typing

    @on(PromptSubmitted)
    async def on_prompt(self, event: PromptSubmitted) -> None:
        text = event.text
        if text.startswith("/") and not text.startswith("//"):
            await slash.run_slash(self, text)
            return
        if text.startswith("//"):
            text = text[1:]  # `//etc` sends a prompt that starts with a slash
        if not self._attachable(text):
            return
        await self.enqueue(text)

    def _attachable(self, text: str) -> bool:
        """The files a prompt names with `@path` can be sent; if not, one line says why and the prompt
        goes back into the composer (they are read again when it is sent)."""
        from gemtui.chat.attachments import AttachmentError, load_mentioned

        try:
            load_mentioned(text)
        except AttachmentError as exc:
            self.show_info(str(exc), "error")
            self.composer.set_text(text)
            return False
        return True

    def action_cancel_answer(self) -> None:
        if self.composer.dropdown_open:
            self.composer.dropdown.remove_class("-open")
            return
        self.stop_sending(requeue=False)

    async def action_slash(self, name: str) -> None:
        await slash.run_slash(self, f"/{name}")

    @on(QueueCancel)
    async def on_queue_cancel(self, event: QueueCancel) -> None:
        item_id = int(event.item_id)
        if self.dispatcher.is_sending(item_id):
            self.stop_sending(requeue=False)
        else:
            self.queue.cancel(item_id)
        await self.refresh_queue()

    @on(QueueEdit)
    async def on_queue_edit(self, event: QueueEdit) -> None:
        from gemtui.tui.screens.edit import EditDialog

        item = self.queue.get(int(event.item_id))
        if item is None or item.state != "queued":
            return

        async def done(text: str | None) -> None:
            if text is None or not text.strip():
                return
            if self.dispatcher.is_sending(item.id):
                self.stop_sending(requeue=True)  # leave it queued; the loop restarts with the new text
            self.queue.edit(item.id, text)
            await self.refresh_queue()
            self.call_later(self.pump)

        self.app.push_screen(EditDialog(item.prompt), done)

    @on(QueueMerge)
    async def on_queue_merge(self, _event: QueueMerge) -> None:
        await conversation_slash.merge(self, "")
        self.composer.area.focus()  # one request left: back to writing the next one


if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

    def _declares_the_slash_context(screen: ChatScreen) -> SlashContext:
        """Type checkers hold the screen to the protocol its slash commands are written against."""
        return screen
