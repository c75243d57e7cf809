"""The send loop: one prompt at a time from this conversation's queue, and each sender event it
yields turned into what the screen shows.

Every prompt goes into the persistent queue first (nothing is lost), then `pump` starts the head of
the line: `ChatSession.prepare` (opened by `gemtui.tui.turns.open_session`) stores the prompt and plans
it under the context budget of each model the router may pick, `gemtui.chat.sender.send` routes and
streams it, and `ChatSession.record` stores every event before it is rendered: waits become queue
countdowns, switches become notices, deltas stream into the answer, failures show inline.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from gemtui.timefmt import duration
from gemtui.tui.widgets.conversation import MessageView, answer_label

FAILURE_HINTS = {  # failure kind -> what the user can do about it
    "auth": " — check the key with /auth or `gemtui auth add`",
    "unreachable": " — check the network or the endpoint, then /retry",
    "not_gemini": " — the endpoint is not a Gemini API; check the profile's endpoint (/auth)",
    "not_found": " — pick another model with /model",
    "bad_request": " — the request itself was refused; edit it and send again",
    "rate_limited": " — the quota panel shows when it frees; /retry then, or /model to switch",
}


@dataclass
class InFlight:
    """The prompt being sent, and how much of it is stored and shown so far: what a cancel or a
    failure has to clean up."""

    item: Any  # the queue item
    retry_of: int | None  # the stored user message this re-sends (/retry, or stored before a restart)
    session: Any = None  # the conversation's ChatSession
    prepared: Any = None  # the stored prompt and its plans, from ChatSession.prepare
    view: MessageView | None = None  # the answer on screen, once routed
    model: str = ""  # the model answering
    text: str = ""  # the answer so far


class DispatchMixin:
    """Part of ChatScreen; owns `_worker` (the send in flight), `_active_item`, `_routed`, `_requeue`,
    `_session` and `_estimator`."""

    _worker: Any
    _active_item: Any
    _routed: bool
    _requeue: bool
    _session: Any
    _estimator: Any

    # ---- the queue -------------------------------------------------------------------------------

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
            self.queue.set_message(item.id, retry_of)
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

    def _is_sending(self, item_id: int) -> bool:
        return self._active_item is not None and self._active_item.id == item_id and self._worker is not None

    def stop_sending(self, requeue: bool) -> None:
        """Cancel the send in flight. `requeue` leaves a prompt not yet routed in the queue, to go again
        (edited, merged, or re-evaluated for another profile); otherwise it is cancelled there too."""
        if self._worker is not None:
            self._requeue = requeue
            self._worker.cancel()

    def session(self) -> Any:
        """The conversation in use (`ChatSession`), opened on first need: one planner, one calibrated
        estimator, rebuilt when the conversation or the runtime (profile) changes."""
        if self.conv_id is None or self.store is None or self.runtime is None:
            return None
        current = self._session
        if (current is None or current.conversation.id != self.conv_id
                or current.engine is not self.runtime.engine):
            from gemtui.tui.turns import open_session

            if self._estimator is None:
                from gemtui.chat.tokens import TokenEstimator

                self._estimator = TokenEstimator()
            current = self._session = open_session(self.store, self.conv_id, self.runtime, self._estimator)
        return current

    # ---- sending one prompt ----------------------------------------------------------------------

    def _stored_message(self, item: Any) -> int | None:
        """The stored user message this item re-sends, if it still exists: set by /retry, or by an
        earlier dispatch that stored the prompt before gemtui was stopped (recovered from the queue)."""
        if item.message_id is None or self.store is None:
            return None
        if self.store.get_message(item.message_id) is None:
            return None
        return item.message_id

    async def _process(self, item: Any) -> None:
        from gemtui.chat.context import ContextTooLarge
        from gemtui.chat.conversation import learn_context_windows
        from gemtui.chat.router import candidates
        from gemtui.chat.sender import AskUser, Delta, Failed, Finished, Retrying, Routed, Waiting, send

        app: Any = self.app
        runtime = self.runtime
        turn = InFlight(item, self._stored_message(item))
        try:
            self.set_status("preparing…", busy=True)
            await app.client_ready.wait()
            if app.runtime_error and runtime is None:
                return
            client = runtime.client
            session = turn.session = self.session()
            await learn_context_windows(session.budget, client, candidates(item.preference)[1])
            # The prompt is stored here, when it is dispatched (not when queued), and planned under the
            # context budget for every model the router may pick; it is shown once routed.
            try:
                if turn.retry_of is not None:
                    turn.prepared = session.prepare_again(turn.retry_of, preference=item.preference,
                                                          policy=self.policy, threshold_s=self.threshold_s)
                else:
                    turn.prepared = session.prepare(item.prompt, preference=item.preference, policy=self.policy,
                                                    threshold_s=self.threshold_s)
            except ContextTooLarge as exc:
                await self._show_not_sent(turn, str(exc))
                return
            self.queue.set_message(item.id, turn.prepared.user_message.id)
            request = turn.prepared.request
            while True:
                again = False
                async for event in send(request, engine=runtime.engine, client=client,
                                        project=runtime.project, secrets=runtime.secrets,
                                        backup=runtime.backup_target()):
                    session.record(event)  # stored before it is shown
                    if isinstance(event, Waiting):
                        reason = event.reason if event.model in event.reason else f"{event.model}: {event.reason}"
                        self.queue.note_wait(item.id, event.until, reason)
                        left = duration(event.until - self.now)
                        self.set_status(f"waiting for {event.model} ({left})", True)
                        await self.refresh_queue()
                    elif isinstance(event, AskUser):
                        choice = await self._ask(event)
                        if choice == "switch":
                            request.forced_route = event.alternative
                        elif choice == "wait":
                            request.policy = "wait"
                        else:
                            self.queue.cancel(item.id)
                            session.unsend(turn.prepared.user_message.id, keep=turn.retry_of is not None)
                            await self.refresh_queue()
                            return
                        again = True
                    elif isinstance(event, Routed):
                        turn.model = event.model
                        if turn.view is None:
                            turn.view = await self._show_routed(turn, event)
                        else:  # routed again after a transient failure
                            self._set_label(turn.view, f"{event.model} · writing…")
                    elif isinstance(event, Delta):
                        turn.text += event.text
                        if turn.view is not None:
                            await turn.view.write(event.text)
                    elif isinstance(event, Retrying):
                        self.set_status(f"{event.reason}; retrying {event.model} in "
                                        f"{duration(event.until - self.now)}", True)
                    elif isinstance(event, Finished):
                        await self._show_finished(turn, event)
                    elif isinstance(event, Failed):
                        await self._show_failed(turn, event)
                    self.refresh_gauges()
                if not again:
                    break
        except asyncio.CancelledError:
            await self._show_cancelled(turn)
            raise
        except Exception as exc:  # never crash the app: show what happened where it happened
            from gemtui.errors import one_line

            await self._show_error(turn, one_line(exc, getattr(runtime, "secrets", ())))
        finally:
            self._worker = None
            self._active_item = None
            self._routed = False
            self.set_status("")
            self.refresh_gauges()
            await self.refresh_queue()
            with contextlib.suppress(Exception):
                await self.refresh_marker()
            self.call_later(self.pump)

    async def _ask(self, event: Any) -> str:
        """The `ask` policy at a limit: switch, wait or cancel, chosen in a dialog."""
        from gemtui.tui.screens.ask import AskDialog

        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.app.push_screen(AskDialog(event, self.now), lambda choice: future.set_result(choice or "cancel"))
        return await future

    # ---- sender events on screen -----------------------------------------------------------------

    async def _show_not_sent(self, turn: InFlight, message: str) -> None:
        """The context budget cannot take this prompt for any model: shown inline, nothing sent."""
        self.queue.mark(turn.item.id, "failed", error=message)
        if turn.retry_of is None:
            turn.session.reload()
            stored = next((m for m in reversed(turn.session.messages) if m.role == "user"), None)
            if stored is not None:
                view = await self._add_view(stored)
                view.set_status(f"✗ not sent: {message}", error=True)
                return
        await self.conversation.add_notice(f"✗ not sent: {message}", classes="marker")

    async def _show_routed(self, turn: InFlight, event: Any) -> MessageView:
        """A model took the prompt: the prompt and an empty answer appear, a switch is announced."""
        self._routed = True
        self.queue.mark(turn.item.id, "sending", model=event.model)
        await self.refresh_queue()
        if turn.retry_of is None:
            await self._add_view(turn.prepared.user_message)  # stored by prepare() before it is shown
        if event.switched:
            self.show_switch(event.preferred, event.model,
                             event.note or f"{event.preferred} is busy → answered by {event.model}")
        elif self.is_switched_from(event.model):
            note = f"back on {event.model}"
            self.end_switch(note)
            await self.conversation.add_notice(note)
        view = await self.conversation.add_message("model", "", "", turn.session.answer_id)
        self._number(view.msg_id)
        self._set_label(view, f"{event.model} · writing…")
        self.last_plan = turn.prepared.plans.get(event.model)
        await self.show_marker(self.last_plan)  # what this very request sends
        self.set_status(f"{event.model} is answering — Esc cancels", busy=True)
        return view

    async def _show_finished(self, turn: InFlight, event: Any) -> None:
        usage = event.usage
        tokens_in = usage.input_tokens if usage else None
        tokens_out = usage.output_tokens if usage else None
        self.queue.mark(turn.item.id, "done", model=event.model)
        view = turn.view
        if view is not None:
            await view.end_stream()
            self._set_label(view, answer_label(event.model, tokens_in, tokens_out, event.latency_s,
                                               event.switched_from))
            if event.finish_reason and event.finish_reason not in ("STOP", "MAX_TOKENS"):
                view.set_status(f"the answer stopped early ({event.finish_reason})")

    async def _show_failed(self, turn: InFlight, event: Any) -> None:
        failure = event.failure
        self.queue.mark(turn.item.id, "failed", error=failure.message, model=event.model)
        hint = FAILURE_HINTS.get(failure.kind, "")
        if not event.partial:  # no answer: the prompt stays stored but is never sent as history
            turn.session.unsend(turn.prepared.user_message.id, keep=True)
        view = turn.view
        if view is None:
            if turn.retry_of is None:
                await self._add_view(turn.prepared.user_message)
            await self.conversation.add_notice(f"✗ not sent: {failure.message}{hint}", classes="marker")
            return
        await view.end_stream()
        self._set_label(view, f"{event.model or '?'} · {'cut' if event.partial else 'failed'}")
        prefix = "✂ answer cut" if event.partial else "✗ failed"
        what = hint or " — /retry (Ctrl+R) to send again"
        view.set_status(f"{prefix}: {failure.message}{what}", error=True)

    async def _show_cancelled(self, turn: InFlight) -> None:
        """Esc, /new, a profile switch…: a routed answer is kept as cut; a prompt never routed goes
        back to the queue (`_requeue`) or is cancelled there."""
        session, prepared, view = turn.session, turn.prepared, turn.view
        with contextlib.suppress(Exception):
            if not self._routed:
                if session is not None and prepared is not None:
                    session.unsend(prepared.user_message.id, keep=turn.retry_of is not None)
                    if turn.retry_of is None:  # removed: a requeued item stores its prompt afresh
                        self.queue.set_message(turn.item.id, None)
                if not self._requeue:
                    self.queue.cancel(turn.item.id)
                return
            self.queue.mark(turn.item.id, "cancelled")
            if session is not None:
                session.abandon(turn.text, "cancelled")
            if view is not None:
                await view.end_stream()
                self._set_label(view, f"{turn.model or '?'} · cancelled")
                view.set_status("cancelled — /retry (Ctrl+R) to send again")

    async def _show_error(self, turn: InFlight, message: str) -> None:
        """An unexpected exception in the loop: stored and shown where it happened, never a traceback."""
        session, view = turn.session, turn.view
        with contextlib.suppress(Exception):
            self.queue.mark(turn.item.id, "failed", error=message)
            if session is not None and view is not None:
                session.abandon(turn.text, message)
            elif session is not None and turn.prepared is not None:
                session.unsend(turn.prepared.user_message.id, keep=True)
        if view is not None:
            await view.end_stream()
            view.set_status(f"error: {message} — /retry to send again", error=True)
        else:
            await self.conversation.add_notice(f"error: {message}", classes="marker")
