"""The main screen: conversation, composer, quota and queue panels, the status and routing lines.

The screen lays itself out and keeps the live parts fresh (gauges, countdowns, the routing line);
the send loop is `dispatch`, the conversation as shown is `transcript`, and each slash command is a
`cmd_<name>` method from the `*_commands` modules, so the composer, the palette and key bindings all
reach the same handler through `gemtui.tui.commands.run_slash`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gemtui.timefmt import duration
from gemtui.tui import commands
from gemtui.tui.messages import PromptSubmitted, QueueCancel, QueueEdit, QueueMerge
from gemtui.tui.screens.chat.dispatch import DispatchMixin
from gemtui.tui.screens.chat.transcript import TranscriptMixin
from gemtui.tui.widgets.composer import Composer
from gemtui.tui.widgets.conversation import Conversation
from gemtui.tui.widgets.queue_panel import QueuePanel
from gemtui.tui.widgets.quota_panel import QuotaPanel

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


class ChatScreen(DispatchMixin, TranscriptMixin, Screen):
    CSS_PATH = "chat.tcss"
    BINDINGS = [
        Binding("escape", "cancel_answer", "Cancel answer"),
        Binding("ctrl+n", "slash('new')", "New"),
        Binding("ctrl+o", "slash('model')", "Model"),
        Binding("ctrl+u", "slash('quota')", "Quota"),
        Binding("ctrl+s", "slash('sessions')", "Sessions"),
        Binding("ctrl+r", "slash('retry')", "Retry"),
        Binding("f1", "slash('help')", "Help"),
        Binding("ctrl+t", "slash('theme')", "Theme", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
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
        self._retry_of: dict[int, int] = {}  # queue item id -> stored user message id it re-sends
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
        # styling them was ~40 % of start-up to first paint.

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

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
        await self.query_one("#body").mount(Vertical(QuotaPanel(id="quota"), QueuePanel(id="queue"), id="side"))
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
            self.sub_title = (f"{runtime.profile_name} · {runtime.tier} · {self.preference} · "
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
        self.query_one(QuotaPanel).show(active, fallbacks, gauges, now)
        self._threshold_notices(gauges, now)

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
        self.query_one(QueuePanel).tick(now)
        self._paint_routing(now)

    async def refresh_queue(self) -> None:
        if self.queue is None:
            return
        items = [i for i in self.queue.items() if i.batch_id is None and i.conversation_id == self.conv_id]
        active = self._active_item.id if self._active_item is not None and self._routed else None
        await self.query_one(QueuePanel).show_items([i for i in items if i.id != active], self.now)

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

    # ---- slash commands (one method per command; palette and composer share them) ---------------

    async def cmd_merge(self, _arg: str) -> None:
        items = self._waiting()
        if len(items) < 2:
            self.show_info("merge needs two or more queued messages")
            return
        if self._active_item is not None and self._worker is not None and not self._routed:
            self._requeue = True
            self._worker.cancel()
        merged = self.queue.merge([i.id for i in items])
        self.show_info(f"merged {len(items)} messages into one request (saves {len(items) - 1} of RPM)")
        await self.refresh_queue()
        self.call_later(self.pump)
        return merged

    async def cmd_model(self, arg: str) -> None:
        from gemtui.quota.limits import resolve_model

        if not arg:
            from gemtui.tui.screens.model_picker import ModelPicker

            def picked(choice: str | None) -> None:
                if choice:
                    self._set_preference(choice)

            self.app.push_screen(ModelPicker(self, self.preference), picked)
            return
        choice = arg.split()[0].lower()
        self._set_preference("auto" if choice == "auto" else resolve_model(choice))

    def _set_preference(self, preference: str) -> None:
        self.preference = preference
        self._update_title()
        self.refresh_gauges()
        note = " (Pro first, falls back at a limit)" if preference == "auto" else ""
        self.show_info(f"model: {preference}{note}")
        self.call_later(self.refresh_marker)  # another model, another budget

    async def cmd_policy(self, arg: str) -> None:
        if arg not in ("switch", "wait", "ask"):
            self.show_info(f"on limit: {self.policy} (choose /policy switch, wait or ask)")
            return
        self.policy = arg
        self._update_title()
        self.show_info(f"at a limit auto mode will now {arg}")

    async def cmd_auth(self, _arg: str) -> None:
        from gemtui.tui.screens.auth import AuthScreen

        self.app.push_screen(AuthScreen(self))

    async def switch_profile(self, name: str) -> str | None:
        """Send as profile `name` from now on: it becomes the active profile, the runtime is rebuilt
        for it (its key, endpoint, tier, project ledger, backup), and a prompt still waiting for the old
        profile's quota is re-evaluated against the new one. Returns why not, in one line."""
        from gemtui.auth import resolve_backup, resolve_profile, use_profile
        from gemtui.chat.runtime import build_runtime
        from gemtui.config import load_config
        from gemtui.errors import one_line

        app: Any = self.app
        # the engine's clock carries over (time is a parameter: tests run the app on a simulated one)
        clock = getattr(getattr(self.runtime, "engine", None), "clock", None)

        def runtime_for(profile: Any, config: Any) -> Any:  # as `commands._runtime._from_profile`
            return build_runtime(profile_name=profile.name, project=profile.project, tier=profile.tier,
                                 api_key=profile.api_key, endpoint=profile.endpoint,
                                 api_version=profile.api_version, config=config, clock=clock)

        try:
            config = load_config()
            profile = resolve_profile(name, config=config)
            runtime = runtime_for(profile, app.config if app.config is not None else config)
            backup = resolve_backup(profile, config=config)
            if backup is not None:
                runtime.backup = runtime_for(backup, runtime.config)
            use_profile(name)
        except Exception as exc:  # no keyring, locked keyring, missing key: one line
            return one_line(exc)
        app.runtime, app.runtime_error = runtime, None
        self.query_one("#runtime-error", Static).display = False
        self._session = None  # the budget follows the new project's TPM
        self._levels.clear()
        if self._worker is not None and not self._routed:
            self._requeue = True  # waiting for the old profile's quota: back to the queue
            self._worker.cancel()
        self._update_title()
        self.refresh_gauges()
        await self.refresh_queue()
        self.call_later(self.pump)
        self.call_later(self.refresh_marker)
        return None

    async def cmd_quota(self, _arg: str) -> None:
        from gemtui.tui.screens.quota import QuotaScreen

        if self.runtime is None:
            self.show_info("not connected: no quota to show", "warning")
            return
        self.app.push_screen(QuotaScreen(self.runtime, self.store))

    async def cmd_new(self, _arg: str) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self.conv_id = None
        self.conv_title = ""
        self._numbers, self._pinned = {}, set()
        self._update_title()
        await self.conversation.clear()
        await self.refresh_queue()
        self.show_info("new conversation")

    async def cmd_sessions(self, _arg: str) -> None:
        from gemtui.tui.screens.sessions import SessionsScreen

        async def chosen(conv_id: int | None) -> None:
            if conv_id is not None:
                await self._resume(str(conv_id))
            elif self.conv_id is not None and self.store.get(self.conv_id) is None:
                await self.cmd_new("")

        self.app.push_screen(SessionsScreen(self.store, self.conv_id), chosen)

    async def _resume(self, key: str) -> None:
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

    def context_lines(self) -> list[str]:
        """/context: the plan the send path makes (same budget, same calibrated estimator) for the
        preferred model over the stored history; the next prompt is added to it when sent."""
        session = self.session()
        if session is None:
            return ["nothing stored yet: the next request sends the system prompt and your prompt"]
        plan, error = session.next_plan(self.preference)
        if plan is None:
            return [f"the next request cannot be sent: {error}"]
        lines = [f"next request to {plan.model} (history so far; your next prompt is added to it)",
                 *plan.report()]
        if plan.marker:
            lines.append(f"in the conversation: {plan.marker}")
        return lines

    async def cmd_context(self, _arg: str) -> None:
        from gemtui.tui.screens.context import ContextScreen

        self.app.push_screen(ContextScreen(self.context_lines()))

    # ---- pins and /compact -----------------------------------------------------------------------

    def _message_for(self, arg: str) -> tuple[int | None, str]:
        """`/pin` → the last message shown; `/pin 3` or `/pin #3` → the message shown as #3."""
        if not self._numbers:
            return None, "no message to pin yet"
        if not arg:
            msg_id = max(self._numbers, key=self._numbers.__getitem__)
            return msg_id, ""
        wanted = arg.strip().lstrip("#")
        if not wanted.isdigit():
            return None, f"/pin takes a message number as shown (#3 → /pin 3), not {arg!r}"
        number = int(wanted)
        msg_id = next((i for i, n in self._numbers.items() if n == number), None)
        return (msg_id, "") if msg_id is not None else (None, f"no message #{number} in this conversation")

    async def cmd_pin(self, arg: str) -> None:
        await self._pin(arg, True)

    async def cmd_unpin(self, arg: str) -> None:
        await self._pin(arg, False)

    async def _pin(self, arg: str, pinned: bool) -> None:
        from gemtui.chat.sessions import SessionError

        if self.conv_id is None or self.store is None:
            self.show_info("nothing to pin yet")
            return
        msg_id, problem = self._message_for(arg)
        if msg_id is None:
            self.show_info(problem, "warning")
            return
        try:
            self.store.set_pinned(msg_id, pinned)
        except SessionError as exc:
            self.show_info(f"#{self._numbers[msg_id]}: {exc}", "warning")
            return
        (self._pinned.add if pinned else self._pinned.discard)(msg_id)
        for view in self.conversation.messages():
            if view.msg_id == msg_id:
                self._set_label(view, getattr(view, "gemtui_base_label", view._label))
        session = self.session()
        if session is not None:
            session.reload()
        await self.refresh_marker()
        number = self._numbers[msg_id]
        self.show_info(f"#{number} pinned: sent with every request" if pinned
                       else f"#{number} unpinned: sent only while it is recent enough")

    def _admissible_summariser(self, session: Any, plan: Any) -> tuple[Any, Any, str]:
        """The cheapest model the engine admits now for the summary (`cheapest_first`), its job and
        gauges; else (None, None, why)."""
        from gemtui.chat.compact import cheapest_first, prepare_compaction
        from gemtui.chat.sessions import SessionError
        from gemtui.quota.engine import RequestCost
        from gemtui.quota.limits import FALLBACK_ORDER

        runtime = self.runtime
        reasons = []
        for model in cheapest_first(FALLBACK_ORDER):
            try:
                job = prepare_compaction(session.messages, plan.left_out_ids, model, session.estimator,
                                         budget=session.budget)
            except SessionError as exc:
                reasons.append(f"{model}: {exc}")
                continue
            admission = runtime.engine.check(runtime.project, job.model, RequestCost(input_tokens=job.input_tokens))
            if admission.granted:
                return job, runtime.engine.gauges(runtime.project, [job.model])[job.model], ""
            reasons.append(f"{model}: {admission.reason}")
        return None, None, "; ".join(reasons)

    async def cmd_compact(self, _arg: str) -> None:
        from gemtui.tui.screens.confirm import ConfirmDialog

        session = self.session()
        if session is None:
            self.show_info("nothing to compact yet")
            return
        if self._worker is not None:
            self.show_info("an answer is being written; /compact when it is done")
            return
        session.reload()
        plan, error = session.next_plan(self.preference)
        if plan is None:
            self.show_info(f"/compact: {error}", "warning")
            return
        if not plan.left_out:
            self.show_info("nothing to compact: every message is still sent")
            return
        job, gauges, why = self._admissible_summariser(session, plan)
        if job is None:
            self.show_info(f"/compact: no model can take the summary now ({why})", "warning")
            return
        line = job.describe(rpm_left=gauges["rpm"].remaining, tpm_left=gauges["tpm"].remaining,
                            rpd_left=gauges["rpd"].remaining)

        def answered(ok: bool | None) -> None:
            if ok:
                self._worker = self.run_worker(self._compact(job), group="send", exit_on_error=False)

        self.app.push_screen(ConfirmDialog("Summarise the messages that are no longer sent?", line,
                                           "The summary is pinned in their place; nothing is deleted."),
                             answered)

    async def _compact(self, job: Any) -> None:
        from gemtui.chat.compact import apply_compaction
        from gemtui.chat.sender import Failed, Finished, Request, Waiting, send
        from gemtui.errors import one_line
        from gemtui.gemini.client import Turn
        from gemtui.quota.engine import RequestCost

        runtime = self.runtime
        conv_id = self.conv_id
        try:
            self.set_status(f"/compact: summarising with {job.model}…", busy=True)
            request = Request(turns=[Turn("user", job.request_text)], system=job.system, preference=job.model,
                              policy="wait", forced_route=job.model,
                              cost_for=lambda _model: RequestCost(input_tokens=job.input_tokens))
            summary = None
            async for event in send(request, engine=runtime.engine, client=runtime.client,
                                    project=runtime.project, secrets=runtime.secrets):
                if isinstance(event, Waiting):
                    self.set_status(f"/compact: waiting for {event.model} "
                                    f"({duration(event.until - self.now)})", busy=True)
                elif isinstance(event, Finished):
                    summary = event.text
                elif isinstance(event, Failed):
                    self.show_info(f"/compact failed, nothing changed: {event.failure.message}", "error")
                self.refresh_gauges()
            if summary is None or conv_id != self.conv_id:
                return
            apply_compaction(self.store, conv_id, job.covered_ids, summary, job.model)
            await self._show_conversation()
            self.show_info(f"/compact: {len(job.covered_ids)} messages replaced by a pinned summary "
                           f"from {job.model}")
        except Exception as exc:  # shown, never a traceback
            self.show_info(f"/compact failed, nothing changed: {one_line(exc, runtime.secrets)}", "error")
        finally:
            self._worker = None
            self.set_status("")
            self.refresh_gauges()
            self.call_later(self.pump)

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

    async def cmd_theme(self, arg: str) -> None:
        app: Any = self.app
        names = sorted(n for n in app.available_themes if n.startswith("gemtui"))
        if not arg:
            from gemtui.tui.screens.theme_picker import ThemePicker

            def picked(name: str | None) -> None:
                if name:
                    self._apply_theme(name)

            self.app.push_screen(ThemePicker(sorted(app.available_themes), app.theme), picked)
            return
        if arg not in app.available_themes:
            self.show_info(f"no theme {arg!r}; try {', '.join(names)}", "warning")
            return
        self._apply_theme(arg)

    def _apply_theme(self, name: str) -> None:
        app: Any = self.app
        app.remember_theme(name)
        self.query_one(QuotaPanel).repaint()
        self.show_info(f"theme: {name}")

    async def cmd_help(self, _arg: str) -> None:
        from gemtui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    async def cmd_quit(self, _arg: str) -> None:
        self.app.exit(0)
