"""The main screen: conversation, composer, quota and queue panels, and the send loop.

Every prompt goes into the persistent queue first (nothing is lost), then the one send loop takes
the head of the line through `gemtui.chat.sender.send` and renders its events: waits become queue
countdowns, switches become notices, deltas stream into the answer, failures show inline.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from gemtui.tui.widgets.composer import Composer
from gemtui.tui.widgets.conversation import Conversation, MessageView, answer_label
from gemtui.tui.widgets.queue_panel import QueuePanel
from gemtui.tui.widgets.quota_panel import QuotaPanel

LEVEL_RANK = {"normal": 0, "na": 0, "warning": 1, "critical": 2, "blocked": 2}
SAVE_EVERY_S = 1.0  # a streaming answer is written back this often, so a kill loses < 1 s of text


def free_at(gauges: dict[str, Any], now: float) -> float | None:
    """When a model has room again: the latest block or full window among its dimensions."""
    times = []
    for gauge in gauges.values():
        if gauge.blocked_until and gauge.blocked_until > now:
            times.append(gauge.blocked_until)
        elif gauge.limit and gauge.used >= gauge.limit and gauge.resets_at:
            times.append(gauge.resets_at)
    return max(times) if times else None


class ChatScreen(Screen):
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
        self.conv_id: int | None = None
        self.conv_title = ""
        self.preference = "auto"
        self.policy = "switch"
        self.threshold_s = 20.0
        self.store: Any = None
        self.queue: Any = None
        self._worker: Any = None
        self._active_item: Any = None
        self._routed = False
        self._requeue = False
        self._retry_of: dict[int, int] = {}  # queue item id -> stored user message id it re-sends
        self._levels: dict[tuple[str, str], str] = {}
        self._last_switch: tuple[str, str] | None = None  # (preferred, used) while a switch is in force
        self._routing_until: float | None = None
        self._routing_text = ""
        self.last_gauges: dict[str, dict[str, Any]] = {}

    # ---- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="chat"):
                yield Conversation(id="conversation")
                yield Static("", id="runtime-error")
                yield Static("", id="routing")
                yield Static("connecting…", id="status")
                yield Composer(commands.completions, id="composer")
            with Vertical(id="side"):
                yield QuotaPanel(id="quota")
                yield QueuePanel(id="queue")
        yield Footer()

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
        self.set_interval(app.clock_tick_s, self.tick)
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

    # ---- live refresh ----------------------------------------------------------------------------

    def models(self) -> tuple[str, tuple[str, ...]]:
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
        active, fallbacks = self.models()
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

    async def refresh_queue(self) -> None:
        if self.queue is None:
            return
        items = [i for i in self.queue.items() if i.batch_id is None and i.conversation_id == self.conv_id]
        active = self._active_item.id if self._active_item is not None and self._routed else None
        await self.query_one(QueuePanel).show_items([i for i in items if i.id != active], self.now)

    # ---- submitting ------------------------------------------------------------------------------

    @on(PromptSubmitted)
    async def on_prompt(self, event: PromptSubmitted) -> None:
        text = event.text
        if text.startswith("/") and not text.startswith("//"):
            await commands.run_slash(self, text)
            return
        if text.startswith("//"):
            text = text[1:]  # `//etc` sends a prompt that starts with a slash
        await self.enqueue(text)

    async def enqueue(self, prompt: str, retry_of: int | None = None) -> None:
        if self.queue is None:
            self.show_info("still starting; try again in a moment", "warning")
            self.composer.set_text(prompt)
            return
        if self.conv_id is None:
            from gemtui.chat.sessions import short_title

            self.conv_id = self.store.create(title=short_title(prompt)).id
        item = self.queue.add(self.conv_id, prompt, preference=self.preference)
        if retry_of is not None:
            self._retry_of[item.id] = retry_of
        await self.refresh_queue()
        self.pump()

    def _waiting(self) -> list[Any]:
        """Queued items of this conversation typed here (headless batches are not ours to send)."""
        return [i for i in self.queue.items(("queued",))
                if i.batch_id is None and i.conversation_id == self.conv_id]

    def pump(self) -> None:
        """Start the head of the line when nothing is being sent."""
        if self._worker is not None or self.queue is None or self.runtime is None or self.conv_id is None:
            return
        items = self._waiting()
        if not items:
            self.set_status("")
            return
        self._active_item = items[0]
        self._routed = False
        self._requeue = False
        self._worker = self.run_worker(self._process(items[0]), group="send", exit_on_error=False)

    # ---- the send loop ---------------------------------------------------------------------------

    def _history(self, before_msg: int | None = None) -> list[Any]:
        from gemtui.gemini.client import Turn

        turns = []
        for msg in self.store.messages(self.conv_id, include_compacted=False):
            if before_msg is not None and msg.id == before_msg:
                break
            if msg.status == "complete" and msg.role in ("user", "model") and msg.text:
                turns.append(Turn(msg.role, msg.text))
        return turns

    async def _process(self, item: Any) -> None:
        from gemtui.chat.sender import (
            AskUser,
            Delta,
            Failed,
            Finished,
            Request,
            Retrying,
            Routed,
            Waiting,
            send,
        )
        from gemtui.gemini.client import Turn

        app: Any = self.app
        runtime = self.runtime
        retry_of = self._retry_of.pop(item.id, None)
        view: MessageView | None = None
        answer_id: int | None = None
        text = ""
        forced: str | None = None
        policy = self.policy
        try:
            self.set_status("preparing…", busy=True)
            await app.client_ready.wait()
            if app.runtime_error and runtime is None:
                return
            client = runtime.client
            history = self._history(before_msg=retry_of)
            request_turns = [*history, Turn("user", item.prompt)]
            while True:
                request = Request(turns=request_turns, preference=item.preference, policy=policy,
                                  threshold_s=self.threshold_s, forced_route=forced)
                again = False
                last_save = time.monotonic()
                async for event in send(request, engine=runtime.engine, client=client,
                                        project=runtime.project, secrets=runtime.secrets):
                    if isinstance(event, Waiting):
                        reason = event.reason if event.model in event.reason else f"{event.model}: {event.reason}"
                        self.queue.note_wait(item.id, event.until, reason)
                        left = duration(event.until - self.now)
                        self.set_status(f"waiting for {event.model} ({left})", True)
                        await self.refresh_queue()
                    elif isinstance(event, AskUser):
                        choice = await self._ask(event)
                        if choice == "switch":
                            forced = event.alternative
                        elif choice == "wait":
                            policy = "wait"
                        else:
                            self.queue.cancel(item.id)
                            await self.refresh_queue()
                            return
                        again = True
                    elif isinstance(event, Routed):
                        view, answer_id = await self._on_routed(item, event, retry_of)
                    elif isinstance(event, Delta):
                        text += event.text
                        if view is not None:
                            await view.write(event.text)
                        if time.monotonic() - last_save > SAVE_EVERY_S and answer_id is not None:
                            self.store.update_message(answer_id, text=text)
                            last_save = time.monotonic()
                    elif isinstance(event, Retrying):
                        self.set_status(f"{event.reason}; retrying {event.model} in "
                                        f"{duration(event.until - self.now)}", True)
                    elif isinstance(event, Finished):
                        await self._on_finished(item, event, view, answer_id)
                    elif isinstance(event, Failed):
                        await self._on_failed(item, event, view, answer_id)
                    self.refresh_gauges()
                if not again:
                    break
        except asyncio.CancelledError:
            await self._on_cancelled(item, view, answer_id, text)
            raise
        except Exception as exc:  # never crash the app: show what happened where it happened
            from gemtui.errors import one_line

            message = one_line(exc, getattr(runtime, "secrets", ()))
            self.queue.mark(item.id, "failed", error=message)
            if view is not None:
                await view.end_stream()
                view.set_status(f"error: {message} — /retry to send again", error=True)
            else:
                await self.conversation.add_notice(f"error: {message}", classes="marker")
        finally:
            self._worker = None
            self._active_item = None
            self._routed = False
            self.set_status("")
            self.refresh_gauges()
            await self.refresh_queue()
            self.call_later(self.pump)

    async def _ask(self, event: Any) -> str:
        from gemtui.tui.screens.ask import AskDialog

        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.app.push_screen(AskDialog(event, self.now), lambda choice: future.set_result(choice or "cancel"))
        return await future

    async def _on_routed(self, item: Any, event: Any, retry_of: int | None) -> tuple[MessageView, int]:
        self._routed = True
        self.queue.mark(item.id, "sending", model=event.model)
        await self.refresh_queue()
        if retry_of is None:
            user = self.store.append(self.conv_id, "user", item.prompt)  # stored before it is shown
            await self.conversation.add_message("user", item.prompt, "you", user.id)
        if event.switched:
            self.refresh_gauges()
            now = self.now
            until = free_at(self.last_gauges.get(event.preferred, {}), now)
            note = event.note or f"{event.preferred} is busy → answered by {event.model}"
            self._last_switch = (event.preferred, event.model)
            self._routing_text, self._routing_until = note, until
            self._paint_routing(now)
            self.notify(note, severity="warning", timeout=6)
        elif self._last_switch is not None and event.model == self._last_switch[0]:
            note = f"back on {event.model}"
            self._last_switch = None
            self._routing_text, self._routing_until = "", None
            self._paint_routing(self.now)
            self.notify(note, timeout=5)
            await self.conversation.add_notice(note)
        answer = self.store.append(self.conv_id, "model", "", model=event.model, status="pending")
        view = await self.conversation.add_message("model", "", f"{event.model} · writing…", answer.id)
        self.set_status(f"{event.model} is answering — Esc cancels", busy=True)
        return view, answer.id

    async def _on_finished(self, item: Any, event: Any, view: MessageView | None,
                           answer_id: int | None) -> None:
        usage = event.usage
        tokens_in = usage.input_tokens if usage else None
        tokens_out = usage.output_tokens if usage else None
        if answer_id is not None:
            self.store.update_message(answer_id, text=event.text, status="complete", model=event.model,
                                      input_tokens=tokens_in, output_tokens=tokens_out,
                                      latency_s=event.latency_s)
        self.queue.mark(item.id, "done", model=event.model)
        if view is not None:
            await view.end_stream()
            view.set_label(answer_label(event.model, tokens_in, tokens_out, event.latency_s,
                                        event.switched_from))
            if event.finish_reason and event.finish_reason not in ("STOP", "MAX_TOKENS"):
                view.set_status(f"the answer stopped early ({event.finish_reason})")

    async def _on_failed(self, item: Any, event: Any, view: MessageView | None,
                         answer_id: int | None) -> None:
        failure = event.failure
        self.queue.mark(item.id, "failed", error=failure.message, model=event.model)
        hint = _what_to_do(failure.kind)
        if view is None:
            await self.conversation.add_notice(f"✗ not sent: {failure.message}{hint}", classes="marker")
            return
        await view.end_stream()
        status = "partial" if event.partial else "error"
        if answer_id is not None:
            self.store.update_message(answer_id, text=event.partial, status=status, error=failure.message)
        view.set_label(f"{event.model or '?'} · {'cut' if event.partial else 'failed'}")
        prefix = "✂ answer cut" if event.partial else "✗ failed"
        what = hint or " — /retry (Ctrl+R) to send again"
        view.set_status(f"{prefix}: {failure.message}{what}", error=True)

    async def _on_cancelled(self, item: Any, view: MessageView | None, answer_id: int | None,
                            text: str) -> None:
        with contextlib.suppress(Exception):
            if not self._routed:
                if not self._requeue:
                    self.queue.cancel(item.id)
                return
            self.queue.mark(item.id, "cancelled")
            if answer_id is not None:
                self.store.update_message(answer_id, text=text, status="partial" if text else "error",
                                          error="cancelled")
            if view is not None:
                await view.end_stream()
                view.set_label(f"{view._label.split(' · ')[0]} · cancelled")
                view.set_status("cancelled — /retry (Ctrl+R) to send again")

    # ---- actions ---------------------------------------------------------------------------------

    def action_cancel_answer(self) -> None:
        if self.composer.dropdown_open:
            self.composer.dropdown.remove_class("-open")
            return
        if self._worker is not None:
            self._requeue = False
            self._worker.cancel()

    async def action_slash(self, name: str) -> None:
        await commands.run_slash(self, f"/{name}")

    @on(QueueCancel)
    async def on_queue_cancel(self, event: QueueCancel) -> None:
        item_id = int(event.item_id)
        if self._active_item is not None and self._active_item.id == item_id and self._worker is not None:
            self._requeue = False
            self._worker.cancel()
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
            if self._active_item is not None and self._active_item.id == item.id and self._worker is not None:
                self._requeue = True  # leave it queued; the loop restarts with the new text
                self._worker.cancel()
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

    async def cmd_policy(self, arg: str) -> None:
        if arg not in ("switch", "wait", "ask"):
            self.show_info(f"on limit: {self.policy} (choose /policy switch, wait or ask)")
            return
        self.policy = arg
        self._update_title()
        self.show_info(f"at a limit auto mode will now {arg}")

    async def cmd_auth(self, _arg: str) -> None:
        from gemtui.tui.screens.auth import AuthScreen

        self.app.push_screen(AuthScreen(self.runtime))

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
        await self.conversation.clear()
        for msg in self.store.messages(conv.id, include_compacted=False):
            label = "you" if msg.role == "user" else answer_label(
                msg.model, msg.input_tokens, msg.output_tokens, msg.latency_s)
            view = await self.conversation.add_message(msg.role, msg.text, label, msg.id)
            if msg.role == "model" and msg.status in ("partial", "error", "pending"):
                view.set_status(f"{'cut' if msg.text else 'failed'}: {msg.error or 'interrupted'} — /retry",
                                error=True)
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
        last_user = next((m for m in reversed(self.store.messages(self.conv_id)) if m.role == "user"), None)
        if last_user is None:
            self.show_info("nothing to retry yet")
            return
        await self.enqueue(last_user.text, retry_of=last_user.id)

    async def cmd_clear(self, _arg: str) -> None:
        await self.conversation.clear()
        self.show_info("screen cleared (the session is still stored; /sessions reopens it)")

    async def cmd_context(self, _arg: str) -> None:
        from gemtui.tui.screens.context import ContextScreen

        history = (self.store.messages(self.conv_id, include_compacted=False)
                   if self.conv_id is not None and self.store is not None else [])
        self.app.push_screen(ContextScreen(history, self.runtime, self.preference))

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


def _what_to_do(kind: str) -> str:
    return {
        "auth": " — check the key with /auth or `gemtui auth add`",
        "unreachable": " — check the network or the endpoint, then /retry",
        "not_gemini": " — the endpoint is not a Gemini API; check the profile's endpoint (/auth)",
        "not_found": " — pick another model with /model",
        "bad_request": " — the request itself was refused; edit it and send again",
        "rate_limited": " — the quota panel shows when it frees; /retry then, or /model to switch",
    }.get(kind, "")
