"""The main screen: conversation, composer, quota and queue panels, the status and routing lines.

The screen lays itself out and keeps the live parts fresh (gauges, countdowns, the routing line);
the send loop is `dispatch`, the conversation as shown is `transcript`, and each slash command is a
`cmd_<name>` method from the `*_commands` modules, so the composer, the palette and key bindings all
reach the same handler through `gemtui.tui.commands.run_slash`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Static

from gemtui.timefmt import duration
from gemtui.tui import commands
from gemtui.tui.messages import PromptSubmitted, QueueCancel, QueueEdit, QueueMerge
from gemtui.tui.screens.chat.app_commands import AppCommands
from gemtui.tui.screens.chat.context_commands import ContextCommands
from gemtui.tui.screens.chat.conversation_commands import ConversationCommands
from gemtui.tui.screens.chat.dispatch import DispatchMixin
from gemtui.tui.screens.chat.model_commands import ModelCommands
from gemtui.tui.screens.chat.transcript import TranscriptMixin
from gemtui.tui.widgets.composer import Composer
from gemtui.tui.widgets.conversation import Conversation

WIDE_FROM = 100  # terminal columns from which the side panel is shown beside the conversation
LEVEL_RANK = {"normal": 0, "na": 0, "warning": 1, "critical": 2, "blocked": 2}


def free_at(gauges: dict[str, Any], now: float) -> float | None:
    """When a model has room again: the latest block or full window among its dimensions."""
    times = []
    for gauge in gauges.values():
        if gauge.blocked_until and gauge.blocked_until > now:
            times.append(gauge.blocked_until)
        elif gauge.limit and gauge.used >= gauge.limit and gauge.resets_at:
            times.append(gauge.resets_at)
    return max(times) if times else None


class ChatScreen(ConversationCommands, ModelCommands, ContextCommands, AppCommands,
                 DispatchMixin, TranscriptMixin, Screen):
    """The parts of the screen live in its mixins; the state they share is all set up here."""

    # Its stylesheet, chat.tcss, is the app's CSS_PATH (it is the default screen; see GemtuiApp).
    BINDINGS = [
        Binding("escape", "cancel_answer", "Cancel answer"),
        Binding("ctrl+n", "slash('new')", "New"),
        Binding("ctrl+o", "slash('model')", "Model"),
        Binding("ctrl+u", "slash('quota')", "Quota"),
        Binding("ctrl+s", "slash('sessions')", "Sessions"),
        Binding("ctrl+r", "slash('retry')", "Retry"),
        Binding("f1", "slash('help')", "Help"),
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
        self.store: Any = None
        self.queue: Any = None
        # the send in flight (dispatch)
        self._worker: Any = None
        self._active_item: Any = None
        self._routed = False
        self._requeue = False
        self._session: Any = None  # ChatSession of the conversation on screen (gemtui.tui.turns)
        self._estimator: Any = None  # one calibrated token estimator for every conversation
        self.last_plan: Any = None  # the ContextPlan the last routed request was sent with
        # the transcript
        self._numbers: dict[int, int] = {}  # stored message id -> number shown (`#3`), for /pin N
        self._pinned: set[int] = set()
        # gauges and the routing line
        self._levels: dict[tuple[str, str], str] = {}
        self._last_switch: tuple[str, str] | None = None  # (preferred, used) while a switch is in force
        self._routing_until: float | None = None
        self._routing_text = ""
        self.last_gauges: dict[str, dict[str, Any]] = {}
        self._queued: list[Any] = []  # queue items shown (for the narrow layout's quota line)

    # ---- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"), Vertical(id="chat"):
            yield Conversation(id="conversation")
            yield Static("", id="runtime-error")
            yield Static("", id="routing")
            yield Static("connecting…", id="status")
            yield Composer(commands.completions, id="composer")
        # The side panels and the Footer follow right after the first frame (_after_first_frame):
        # styling them was ~40 % of start-up to first paint, and their modules are imported only then.

    def _refresh_layout(self, size: Any = None, scroll: bool = False) -> None:
        """Lay the screen out now and draw it on the event loop's next turn, not in the same breath.

        While an answer streams the screen lays out and draws many times a second, each in one go
        (together 20-40 ms on a slow machine): a key typed meanwhile waited for both. Textual draws
        on the next turn by itself inside `batch_update`; marking the layout as such a batch lets
        the composer handle a key between the layout and the draw."""
        app = self.app
        app._batch_count += 1
        try:
            super()._refresh_layout(size, scroll)
        finally:
            app._batch_count -= 1

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def quota_panel(self) -> Any:
        """The QuotaPanel (mounted after the first frame, so its module is not imported before it)."""
        return self.query_one("#quota")

    @property
    def queue_panel(self) -> Any:
        """The QueuePanel (mounted after the first frame)."""
        return self.query_one("#queue")

    @property
    def runtime(self) -> Any:
        return self.app.runtime

    @property
    def now(self) -> float:
        runtime = self.runtime
        return runtime.engine.clock.now() if runtime is not None else time.time()

    def on_mount(self) -> None:
        app: Any = self.app
        config = app.config
        if config is not None:
            self.preference = app.model_preference or config.model
            self.policy = config.on_limit
            self.threshold_s = config.wait_threshold_s
        elif app.model_preference:
            self.preference = app.model_preference
        self.composer.area.focus()
        self.call_after_refresh(self._after_first_frame)

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
        self.set_interval(self.app.clock_tick_s, self.tick)  # type: ignore[attr-defined]
        self.run_worker(self._start(), group="start")

    async def _start(self) -> None:
        app: Any = self.app
        await app.runtime_ready.wait()
        self._open_stores()  # sqlite objects must stay on the UI thread
        if app.runtime_error:
            box = self.query_one("#runtime-error", Static)
            box.update(f"cannot start: {app.runtime_error}")
            box.display = True
        runtime = self.runtime
        if runtime is not None:
            for warning in getattr(runtime.engine, "warnings", []):
                self.notify(warning, severity="warning")
        if app.resume is not None:
            await self._resume(app.resume)
        self._update_title()
        self.refresh_gauges()
        await self.refresh_queue()
        self.pump()

    def _open_stores(self) -> None:
        from gemtui.chat.queue import RequestQueue
        from gemtui.chat.sessions import SessionStore

        self.store = SessionStore()
        self.queue = RequestQueue()
        self.queue.recover()

    # ---- title and status line -------------------------------------------------------------------

    def _update_title(self) -> None:
        runtime = self.runtime
        if runtime is None:
            self.sub_title = "not connected"
        else:
            title = f" — {self.conv_title}" if self.conv_title else ""
            backup = f" (backup: {runtime.backup.profile_name})" if runtime.backup is not None else ""
            self.sub_title = (f"{runtime.profile_name}{backup} · {runtime.tier} · {self.preference} · "
                              f"on limit: {self.policy}{title}")
        self.query_one("#status", Static).update(self._idle_status())

    def _idle_status(self) -> str:
        if self.runtime is None:
            return "not connected — /auth, /help" if self.app.runtime_ready.is_set() else "connecting…"
        return "Enter send · Shift/Alt+Enter or Ctrl+J new line · / commands · Esc cancel · Tab queue"

    def set_status(self, text: str, busy: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text or self._idle_status())
        status.set_class(busy, "-busy")

    def show_info(self, text: str, severity: str = "information") -> None:
        self.notify(text, severity=severity, timeout=6)  # type: ignore[arg-type]

    # ---- live refresh: gauges, queue countdowns --------------------------------------------------

    def _panel_models(self) -> tuple[str, tuple[str, ...]]:
        """(active model, fallbacks) for the quota panel."""
        from gemtui.quota.limits import FALLBACK_ORDER, resolve_model

        if self.preference in ("", "auto"):
            return FALLBACK_ORDER[0], tuple(FALLBACK_ORDER[1:])
        active = resolve_model(self.preference)
        return active, tuple(m for m in FALLBACK_ORDER if m != active)

    def refresh_gauges(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        active, fallbacks = self._panel_models()
        try:
            gauges = runtime.engine.gauges(runtime.project, (active, *fallbacks))
        except Exception as exc:  # a locked/corrupt ledger must not take the screen down
            self.set_status(f"quota engine: {exc}")
            return
        self.last_gauges = gauges
        now = self.now
        self.quota_panel.show(active, fallbacks, gauges, now)
        self._show_quota_line(active, gauges, now)
        self._threshold_notices(gauges, now)

    def _show_quota_line(self, active: str, gauges: dict[str, dict[str, Any]], now: float) -> None:
        """The narrow layout's stand-in for the side panel: the active model, and the queue."""
        from gemtui.tui.widgets.gauges import compact_line

        text, lvl = compact_line(active, gauges.get(active, {}), now)
        if self._queued:
            eta = self._queued[0].eta
            text += f" · {len(self._queued)} queued" + (f", next in {duration(eta - now)}" if eta else "")
        for line in self.query("#quota-line"):  # mounted after the first frame
            line.show(text + " · Ctrl+B panel", lvl, prefix=f"{active}  ")

    def action_toggle_panel(self) -> None:
        """Show the side panel on a narrow terminal, or hide it on a wide one."""
        self.toggle_class("-panel-toggled")

    def _threshold_notices(self, gauges: dict[str, dict[str, Any]], now: float) -> None:
        """A toast when a gauge climbs past 80 %, 95 % or into a block (once per climb, not per tick)."""
        from gemtui.tui.widgets.gauges import LABELS, level

        for model, dims in gauges.items():
            for dim, gauge in dims.items():
                lvl = level(gauge, now)
                before = self._levels.get((model, dim), "normal")
                self._levels[(model, dim)] = lvl
                if LEVEL_RANK[lvl] > LEVEL_RANK[before]:
                    share = f"{gauge.used}/{gauge.limit}" if gauge.limit else ""
                    what = "blocked" if lvl == "blocked" else ("95 %" if lvl == "critical" else "80 %")
                    self.notify(
                        f"{model}: {LABELS[dim]} {share} — {what} of the limit",
                        severity="error" if LEVEL_RANK[lvl] >= 2 else "warning",
                        timeout=6,
                    )

    def tick(self) -> None:
        """~1 Hz: gauges, queue countdowns, routing notice countdown (each repaints only on change)."""
        self.refresh_gauges()
        now = self.now
        self.queue_panel.tick(now)
        self._paint_routing(now)

    async def refresh_queue(self) -> None:
        if self.queue is None:
            return
        items = [i for i in self.queue.items() if i.batch_id is None and i.conversation_id == self.conv_id]
        active = self._active_item.id if self._active_item is not None and self._routed else None
        self._queued = [i for i in items if i.id != active]
        now = self.now
        await self.queue_panel.show_items(self._queued, now)
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
        self.notify(note, severity="warning", timeout=6)

    def is_switched_from(self, model: str) -> bool:
        """Whether `model` is the preferred model a switch in force moved away from."""
        return self._last_switch is not None and model == self._last_switch[0]

    def end_switch(self, note: str) -> None:
        self._last_switch = None
        self._routing_text, self._routing_until = "", None
        self._paint_routing(self.now)
        self.notify(note, timeout=5)

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

    @on(PromptSubmitted)
    async def on_prompt(self, event: PromptSubmitted) -> None:
        text = event.text
        if text.startswith("/") and not text.startswith("//"):
            await commands.run_slash(self, text)
            return
        if text.startswith("//"):
            text = text[1:]  # `//etc` sends a prompt that starts with a slash
        await self.enqueue(text)

    def action_cancel_answer(self) -> None:
        if self.composer.dropdown_open:
            self.composer.dropdown.remove_class("-open")
            return
        self.stop_sending(requeue=False)

    async def action_slash(self, name: str) -> None:
        await commands.run_slash(self, f"/{name}")

    @on(QueueCancel)
    async def on_queue_cancel(self, event: QueueCancel) -> None:
        item_id = int(event.item_id)
        if self._is_sending(item_id):
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
            if self._is_sending(item.id):
                self.stop_sending(requeue=True)  # leave it queued; the loop restarts with the new text
            self.queue.edit(item.id, text)
            await self.refresh_queue()
            self.call_later(self.pump)

        self.app.push_screen(EditDialog(item.prompt), done)

    @on(QueueMerge)
    async def on_queue_merge(self, _event: QueueMerge) -> None:
        await self.cmd_merge("")
