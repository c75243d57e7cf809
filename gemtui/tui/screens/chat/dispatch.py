"""The chat screen's send loop: one prompt at a time from this conversation's queue, handed to the turn
runner (`gemtui.chat.turn_runner`), and each event it reports turned into what the screen shows.

Every prompt goes into the persistent queue first (nothing is lost), then `pump` starts the head of the
line. The runner stores, plans, routes, sends and records; this module only renders: waits become queue
countdowns, switches become notices, deltas stream into the answer, failures show inline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from gemtui.chat.response_cache import CachedAnswer, is_cached
from gemtui.chat.turn_runner import (
    AskUser,
    Cancelled,
    Choice,
    Delta,
    Failed,
    Finished,
    NotSent,
    Outgoing,
    Retrying,
    Routed,
    Routing,
    TurnConsumer,
    TurnEvent,
    TurnRunner,
    Unsaved,
    Waiting,
    Wire,
    cancel_waiting,
)
from gemtui.log import get_logger
from gemtui.timefmt import local_time
from gemtui.tui.widgets.conversation import MessageView, answer_label, image_lines

if TYPE_CHECKING:
    from gemtui.chat.conversation import ChatSession
    from gemtui.chat.queue import QueueItem
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.chat.screen import ChatScreen

FAILURE_HINTS = {  # failure kind -> what the user can do about it
    "auth": " — check the key (or a relay's header) with /auth or `gemtui auth add`",
    "unreachable": " — check the network or the endpoint, then /retry",
    "not_gemini": " — the endpoint is not a Gemini API; check the profile's endpoint (/auth)",
    "not_found": " — pick another model with /model",
    "bad_request": " — the request itself was refused; edit it and send again",
    "rate_limited": " — the quota panel shows when it frees; /retry then, or /model to switch",
}


logger = get_logger(__name__)


class Dispatcher(TurnConsumer):
    """Owned by ChatScreen (`screen.dispatcher`): starts the turn at the head of the line, renders its
    events, and cancels or settles it. The turn's state is the runner's (`runner.outgoing`)."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.runner: TurnRunner | None = None  # the turn being sent, while its worker runs
        self.item: QueueItem | None = None  # its queue item
        self.view: MessageView | None = None  # its answer on screen, once routed
        self.exiting = False  # set by settle_for_exit: nothing new starts

    # ---- the queue -------------------------------------------------------------------------------

    async def enqueue(self, prompt: str, retry_of: int | None = None) -> None:
        screen = self.screen
        if screen.queue is None:
            screen.show_info("still starting; try again in a moment", "warning")
            screen.composer.set_text(prompt)
            return
        if screen.conv_id is None:
            from gemtui.chat.sessions import short_title

            screen.conv_id = screen.store.create(title=short_title(prompt)).id
        item = screen.queue.add(screen.conv_id, prompt, preference=screen.preference)
        if retry_of is not None:
            screen.queue.set_message(item.id, retry_of)
        await screen.refresh_queue()
        self.pump()

    def waiting_here(self) -> list[QueueItem]:
        """Queued items of this conversation this app may send: its own, or left by a gemtui that is gone
        (headless batches, and another running gemtui's prompts, are not ours to send)."""
        from gemtui.tui.quarantine import sound_queue_items

        screen = self.screen
        queue = screen.queue
        return sound_queue_items(
            screen,
            [
                i
                for i in queue.items(("queued",))
                if i.batch_id is None and i.conversation_id == screen.conv_id and queue.ours_or_nobodys(i)
            ],
        )

    def pump(self) -> None:
        """Start the head of the line when nothing is being sent."""
        screen = self.screen
        if self.exiting or screen.chat_task.busy or screen.queue is None or screen.runtime is None:
            return
        if screen.conv_id is None:
            return
        head = next((i for i in self.waiting_here() if screen.queue.claim(i.id)), None)  # one gemtui takes it
        if head is None:
            screen.set_status("")
            return
        self.item, self.view = head, None
        self.runner = TurnRunner(Wire.of(screen.runtime), screen.queue, cache=screen.app.response_cache)
        screen.chat_task.start(screen, self._process(head))

    @property
    def routed(self) -> bool:
        """Whether a model took the prompt being sent (from then on it is an answer, not a queue item)."""
        outgoing = self.runner.outgoing if self.runner is not None else None
        return outgoing is not None and outgoing.routed

    def is_sending(self, item_id: int) -> bool:
        return self.item is not None and self.item.id == item_id and self.screen.chat_task.busy

    def stop_sending(self, requeue: bool) -> None:
        """Cancel the send in flight. `requeue` leaves a prompt not yet routed in the queue, to go again
        (edited, merged, or re-evaluated for another profile); otherwise it is cancelled there too."""
        if self.screen.chat_task.busy:
            if self.runner is not None:
                self.runner.stop(requeue)
            self.screen.chat_task.cancel()

    def session(self) -> ChatSession | None:
        """The conversation in use (`ChatSession`), opened on first need: one planner, one calibrated
        estimator, rebuilt when the conversation or the runtime (profile) changes."""
        screen = self.screen
        if screen.conv_id is None or screen.store is None or screen.runtime is None:
            return None
        current = screen._session
        if current is None or current.conversation.id != screen.conv_id or current.engine is not screen.runtime.engine:
            from gemtui.tui.turns import open_session

            if screen._estimator is None:
                from gemtui.chat.tokens import TokenEstimator

                screen._estimator = TokenEstimator()
            current = screen._session = open_session(screen.store, screen.conv_id, screen.runtime, screen._estimator)
        return current

    # ---- one prompt --------------------------------------------------------------------------------

    def _stored_message(self, item: QueueItem) -> int | None:
        """The stored user message this item re-sends, if it still exists: set by /retry, or by an
        earlier dispatch that stored the prompt before gemtui was stopped (recovered from the queue)."""
        store = self.screen.store
        if item.message_id is None or store is None or store.get_message(item.message_id) is None:
            return None
        return item.message_id

    async def _process(self, item: QueueItem) -> None:
        screen, runner = self.screen, self.runner
        assert runner is not None
        routing = Routing(item.preference, screen.policy, screen.threshold_s)
        outgoing = Outgoing(item.prompt, routing, item=item, retry_of=self._stored_message(item))
        from gemtui.chat.attachments import AttachmentError, load_mentioned

        try:
            if outgoing.retry_of is None:  # a stored prompt resends the attachments stored with it
                outgoing.attachments = load_mentioned(item.prompt)
            await runner.run(outgoing, self)
        except asyncio.CancelledError:
            raise
        except AttachmentError as exc:  # a file changed or vanished since it was typed: one line, nothing sent
            if screen.queue is not None:
                screen.queue.mark(item.id, "failed", error=str(exc))
            await screen.conversation.add_notice(f"✗ not sent: {exc}", classes="marker")
        except Exception as exc:  # never crash the app: show what happened where it happened
            from gemtui.errors import one_line

            logger.exception("sending queue item %s failed unexpectedly", item.id)
            await self._show_error(one_line(exc, runner.wire.secrets))
        finally:
            await self._done()

    async def _done(self) -> None:
        screen = self.screen
        screen.chat_task.finished()
        self.runner = self.item = self.view = None
        screen.set_status("")
        screen.refresh_gauges()
        await screen.refresh_queue()
        try:
            await screen.refresh_marker()
        except Exception:  # the trim marker is a hint: a failure to draw it is logged, the turn is done
            logger.exception("refreshing the trim marker failed")
        screen.call_later(self.pump)

    # ---- the runner's consumer ---------------------------------------------------------------------

    async def ready(self, outgoing: Outgoing) -> bool:
        screen = self.screen
        app = cast("GemtuiApp", screen.app)  # the chat screen is only ever pushed by the gemtui app
        screen.set_status("preparing…", busy=True)
        await app.client_ready.wait()
        if app.runtime_error and screen.runtime is None:
            return False
        outgoing.session = self.session()
        return True

    async def choose(self, event: AskUser) -> Choice:
        """The `ask` policy at a limit: switch, wait or cancel, chosen in a dialog."""
        from gemtui.tui.screens.ask import AskDialog

        screen = self.screen
        future: asyncio.Future[Choice] = asyncio.get_running_loop().create_future()
        screen.app.push_screen(
            AskDialog(event, lambda: screen.now), lambda choice: future.set_result(choice or "cancel")
        )
        return await future

    async def offer_cached(self, hit: CachedAnswer, waiting: Waiting) -> bool:
        """Every model must wait past the threshold: a dialog offers the answer kept for this very
        question (shown marked cached), or the prompt keeps waiting in line."""
        from gemtui.tui.screens.confirm import ConfirmDialog

        screen = self.screen
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        body = (
            f"{waiting.model} is free at {local_time(waiting.until)} ({waiting.reason}).\n"
            f"{hit.model} answered this very question at {local_time(hit.created_at)}."
        )
        screen.app.push_screen(
            ConfirmDialog(
                "Use the cached answer?",
                body,
                "it is marked cached; nothing is sent",
                yes="Use cached (y)",
                no="Keep waiting (n)",
            ),
            lambda yes: future.set_result(bool(yes)),
        )
        return await future

    async def show(self, event: TurnEvent) -> None:
        screen = self.screen
        outgoing = self.runner.outgoing if self.runner is not None else None
        if isinstance(event, Waiting):
            screen.set_countdown(f"waiting for {event.model} (", event.until, ")")
            await screen.refresh_queue()
        elif isinstance(event, Routed) and outgoing is not None:
            await self._show_routed(outgoing, event)
        elif isinstance(event, Delta):
            if self.view is not None:
                await self.view.write(event.text)
        elif isinstance(event, Retrying):
            screen.set_countdown(f"{event.reason}; retrying {event.model} in ", event.until)
        elif isinstance(event, Finished):
            await self._show_finished(event)
        elif isinstance(event, Failed) and outgoing is not None:
            await self._show_failed(outgoing, event)
        elif isinstance(event, NotSent):
            await self._show_not_sent(event)
        elif isinstance(event, Unsaved):
            screen.show_info(f"could not save {event.store} ({event.why}); the answer is still shown", "error")
        elif isinstance(event, Cancelled):
            await self._show_cancelled(event)
        if isinstance(event, (Waiting, AskUser, Routed, Delta, Retrying, Finished, Failed)):
            screen.refresh_gauges()

    # ---- runner events on screen -------------------------------------------------------------------

    async def _show_not_sent(self, event: NotSent) -> None:
        """The context budget cannot take this prompt for any model: shown inline, nothing sent."""
        if event.stored is not None:
            view = await self.screen._add_view(event.stored)
            view.set_status(f"✗ not sent: {event.reason}", error=True)
            return
        await self.screen.conversation.add_notice(f"✗ not sent: {event.reason}", classes="marker")

    async def _show_routed(self, outgoing: Outgoing, event: Routed) -> None:
        """A model took the prompt: the prompt and an empty answer appear, a switch is announced; routed
        again after a failure (a retry, or auto mode's next model), the switch and the label change."""
        screen = self.screen
        if self.view is not None:
            await self._announce_switch(event)
            await self._answering(outgoing, event, self.view)
            return
        await screen.refresh_queue()
        if outgoing.retry_of is None and outgoing.prepared is not None:
            await screen._add_view(outgoing.prepared.user_message)  # stored before it is shown
        await self._announce_switch(event)
        session = outgoing.session
        view = await screen.conversation.add_message("model", "", "", session.answer_id if session else None)
        screen._number(view.msg_id)
        self.view = view
        await self._answering(outgoing, event, view)

    async def _announce_switch(self, event: Routed) -> None:
        """The routing line: why a model other than the preferred one answers (or that we are back)."""
        screen = self.screen
        if event.switched:
            screen.show_switch(
                event.preferred, event.model, event.note or f"{event.preferred} is busy → answered by {event.model}"
            )
        elif screen.is_switched_from(event.model):
            note = f"back on {event.model}"
            screen.end_switch(note)
            await screen.conversation.add_notice(note)

    async def _answering(self, outgoing: Outgoing, event: Routed, view: MessageView) -> None:
        screen = self.screen
        screen._set_label(view, f"{event.model} · writing…")
        screen.last_plan = outgoing.prepared.plans.get(event.model) if outgoing.prepared else None
        await screen.show_marker(screen.last_plan)  # what this very request sends
        screen.set_status(f"{event.model} is answering — Esc cancels", busy=True)

    async def _show_finished(self, event: Finished) -> None:
        view = self.view
        if view is None:
            return
        usage = event.usage
        tokens_in = usage.input_tokens if usage else None
        tokens_out = usage.output_tokens if usage else None
        await view.end_stream()
        self.screen._set_label(
            view,
            answer_label(
                event.model,
                tokens_in,
                tokens_out,
                event.latency_s,
                event.switched_from,
                usage.thought_tokens if usage else None,
                cached=is_cached(event),
            ),
        )
        if event.finish_reason and event.finish_reason not in ("STOP", "MAX_TOKENS"):
            view.set_status(f"the answer stopped early ({event.finish_reason})")
        if event.saved:
            await view.show_files(image_lines(event.saved), self.screen.image_previews(event.saved))

    async def _show_failed(self, outgoing: Outgoing, event: Failed) -> None:
        screen, view, failure = self.screen, self.view, event.failure
        hint = FAILURE_HINTS.get(failure.kind, "")
        if view is None:
            if outgoing.retry_of is None and outgoing.prepared is not None:
                await screen._add_view(outgoing.prepared.user_message)
            await screen.conversation.add_notice(f"✗ not sent: {failure.message}{hint}", classes="marker")
            return
        await view.end_stream()
        if not event.partial:  # the empty answer is not stored: its number goes to the next message
            screen._numbers.pop(view.msg_id, None)
        screen._set_label(view, f"{event.model or '?'} · {'cut' if event.partial else 'failed'}")
        prefix = "✂ answer cut" if event.partial else "✗ failed"
        what = hint or " — /retry (Ctrl+R) to send again"
        view.set_status(f"{prefix}: {failure.message}{what}", error=True)

    async def _show_cancelled(self, event: Cancelled) -> None:
        """A routed answer is kept as cut (the runner stored it so); a prompt never routed shows nothing."""
        view = self.view
        if not event.routed or view is None:
            return
        try:
            await view.end_stream()
            self.screen._set_label(view, f"{event.model or '?'} · cancelled")
            view.set_status("cancelled — /retry (Ctrl+R) to send again")
        except Exception:  # the cancel itself must not fail
            logger.exception("could not show a cancelled answer")

    async def _show_error(self, message: str) -> None:
        """An unexpected exception in the turn (the runner stored it): shown where it happened."""
        view = self.view
        if view is not None:
            await view.end_stream()
            view.set_status(f"error: {message} — /retry to send again", error=True)
        else:
            await self.screen.conversation.add_notice(f"error: {message}", classes="marker")

    # ---- leaving the app ------------------------------------------------------------------------

    def waiting_items(self) -> list[QueueItem]:
        """Prompts typed in this app that wait in the queue, every conversation's (not headless batches'):
        what quitting would leave behind. The prompt in flight counts until a model takes it."""
        queue = self.screen.queue
        if queue is None:
            return []
        return [i for i in queue.items(("queued",)) if i.batch_id is None and queue.mine(i)]

    def settle_for_exit(self, *, keep: bool, reason: str) -> None:
        """Before the app stops (quit or crash), synchronously: the queue and the stored conversation
        are left as the next start expects them (`TurnRunner.settle_for_exit`); with `keep` false every
        waiting prompt is cancelled too."""
        self.exiting = True
        if self.runner is not None and self.screen.chat_task.busy:
            self.runner.settle_for_exit(keep=keep, reason=reason)
        if not keep and self.screen.queue is not None:
            cancel_waiting(self.screen.queue, self.waiting_items())
