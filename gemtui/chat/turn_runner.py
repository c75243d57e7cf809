"""One turn, from the queue to the answer: the one place that plans, routes, sends and records it.

A consumer (the chat screen, `gemtui ask`, a batch, /compact) hands the runner an `Outgoing` message and
renders the events it gets back; only the runner writes what a turn changes in the stores: the prompt
stored when it is dispatched, the answer as it streams (`ChatSession.record`: each event is stored before
the consumer shows it, but the text itself is shown first, so it never waits on a store), and the queue
item's state — sending, done, failed, cancelled, or back in line. A terminal state is written after the
consumer has shown the event, so what a batch writes out is on disk before its row says so.

A store that cannot be written (a full disk) stops being written for the rest of the turn, with one
`Unsaved` event; the answer goes on. A cancelled turn (Esc, /new, quitting) leaves the queue and the
conversation as the next start expects them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gemtui.chat.context import ContextTooLarge
from gemtui.chat.conversation import ChatSession, PreparedTurn, learn_context_windows
from gemtui.chat.images_out import save_images
from gemtui.chat.queue import QueueItem, RequestQueue
from gemtui.chat.response_cache import CachedAnswer, CacheUse, served
from gemtui.chat.router import Decision, Policy, candidates
from gemtui.chat.runtime_view import ComposedRuntime, SdkClient
from gemtui.chat.sender import (
    AskUser,
    Delta,
    Event,
    Failed,
    Finished,
    Request,
    Retrying,
    Routed,
    Target,
    Waiting,
    send,
)
from gemtui.chat.sessions import Message
from gemtui.diskfull import is_write_failure, note_unsaved, why
from gemtui.errors import one_line
from gemtui.generation import GenerationSettings
from gemtui.log import get_logger
from gemtui.quota.engine import QuotaEngine
from gemtui.turns import Attachment

logger = get_logger(__name__)

Choice = Literal["switch", "wait", "cancel"]

__all__ = [
    "AskUser",
    "Cancelled",
    "Choice",
    "Delta",
    "Failed",
    "Finished",
    "NotSent",
    "Outgoing",
    "Planned",
    "Retrying",
    "Routed",
    "Routing",
    "TurnConsumer",
    "TurnEvent",
    "TurnRunner",
    "Unsaved",
    "Waiting",
    "Wire",
    "cancel_waiting",
    "run_one",
]


# ---- what the runner is given ---------------------------------------------------------------------


@dataclass
class Wire:
    """Where turns go: the quota engine's scope and the SDK client, read when a turn sends (the chat
    screen's client may still be connecting when its turn is taken from the queue)."""

    engine: QuotaEngine
    project: str
    client: Callable[[], SdkClient]
    secrets: tuple[str, ...] = ()
    backup: Callable[[], Target | None] = lambda: None
    cache_scope: str = "gemini"  # the server, for the response cache's key (`Runtime.cache_scope`)

    @classmethod
    def of(cls, runtime: ComposedRuntime) -> Wire:
        """A composed runtime (`gemtui.runtime.Runtime`) as the runner's wire."""
        return cls(
            runtime.engine,
            runtime.project,
            lambda: runtime.client,
            runtime.secrets,
            runtime.backup_target,
            getattr(runtime, "cache_scope", "gemini"),
        )


@dataclass
class Routing:
    """How the user asked a prompt to be routed."""

    preference: str = "auto"
    policy: Policy = "switch"
    threshold_s: float = 20.0
    max_output_tokens: int | None = None
    generation: GenerationSettings | None = None  # for this turn, over the conversation's own settings


@dataclass
class Outgoing:
    """One message on its way, and how far it got: what a cancel, a failure or quitting settles.

    Either `session` (a stored conversation: the prompt is stored and planned when it is dispatched) or
    `request` (a one-off request, already built) says what is sent. `item` is its queue row, if queued."""

    prompt: str = ""
    routing: Routing = field(default_factory=Routing)
    item: QueueItem | None = None
    session: ChatSession | None = None
    retry_of: int | None = None  # the stored user message this re-sends (/retry, or stored before a restart)
    request: Request | None = None
    first_decision: Decision | None = None  # a route a dispatcher already made (and reserved) for it
    # how far it got
    prepared: PreparedTurn | None = None
    routed: bool = False  # a model took it: from here on a cancel keeps the answer as cut
    model: str = ""  # the model answering
    text: str = ""  # the answer so far
    attachments: tuple[Attachment, ...] = ()  # files sent with a new prompt of a conversation


# ---- what the runner tells its consumer -----------------------------------------------------------


@dataclass
class Planned:
    """The prompt is stored (when in a conversation) and planned; nothing has been sent yet."""

    prepared: PreparedTurn | None


@dataclass
class NotSent:
    """No model's context budget can take the prompt: nothing was sent."""

    reason: str
    stored: Message | None = None  # the stored prompt (marked with the reason), when it was a new one


@dataclass
class Unsaved:
    """A store could not be written (a full or read-only disk): it is not written again this turn."""

    store: str  # what could not be saved, as the user knows it ("the conversation")
    why: str  # a few words: "disk full"


@dataclass
class Cancelled:
    """The turn was stopped (Esc, /new, a profile switch) after it was taken from the queue."""

    routed: bool
    model: str
    text: str


TurnEvent = Planned | NotSent | Waiting | AskUser | Routed | Delta | Retrying | Finished | Failed | Unsaved | Cancelled


class TurnConsumer:
    """What renders a turn. Only `show` is required; the defaults suit a consumer nobody can ask."""

    async def ready(self, outgoing: Outgoing) -> bool:
        """Wait until the turn can be sent (a client connecting); False abandons it quietly."""
        return True

    async def show(self, event: TurnEvent) -> None:
        raise NotImplementedError

    async def choose(self, event: AskUser) -> Choice:
        """Policy `ask` at a limit: switch to the alternative, wait, or cancel the prompt."""
        return "cancel"

    async def offer_cached(self, hit: CachedAnswer, waiting: Waiting) -> bool:
        """Every model must wait past the threshold and the response cache (while off) holds an answer
        to this very request: True takes it (shown marked "cached") instead of waiting."""
        return False


# ---- store writes that never stop an answer -------------------------------------------------------


class _Guard:
    """Store writes during a turn: a write the disk refuses stops that store for the rest of the turn,
    noted once (`gemtui.diskfull`), and never the answer."""

    def __init__(
        self, labels: dict[str, str], stops: Callable[[BaseException], bool], closers: dict[str, Callable[[], None]]
    ) -> None:
        self.labels, self.stops, self.closers = labels, stops, closers
        self.stopped: set[str] = set()
        self.unsaved: list[Unsaved] = []

    def write(self, store: str, action: Callable[..., object], *args: object, **kwargs: object) -> None:
        if store in self.stopped:
            return
        try:
            action(*args, **kwargs)
        except Exception as exc:
            if not self.stops(exc):
                raise
            self.stopped.add(store)
            label = self.labels[store]
            note_unsaved(label, exc)
            close = self.closers.get(store)
            if close is not None:  # gives back the space its journal held, so the ledger can be settled
                with contextlib.suppress(Exception):
                    close()
            self.unsaved.append(Unsaved(label, why(exc)))


# ---- the runner -----------------------------------------------------------------------------------


class TurnRunner:
    """Runs turns over one wire and one queue; `outgoing` is the turn in flight (None between turns).

    `labels` name the stores in `Unsaved` events and in the end-of-command line ("conversation", "queue");
    `stops` says which write failures stop a store rather than the turn (default: the disk's);
    `closers` close a store that stopped."""

    def __init__(
        self,
        wire: Wire,
        queue: RequestQueue | None = None,
        *,
        labels: dict[str, str] | None = None,
        stops: Callable[[BaseException], bool] = is_write_failure,
        closers: dict[str, Callable[[], None]] | None = None,
        cache: CacheUse | None = None,
        images_dir: Path | None = None,
    ) -> None:
        self.wire = wire
        self.cache = cache
        self.images_dir = images_dir  # where images an answer carries are saved (None: the data dir's)
        self.queue = queue
        self.labels = {
            "conversation": "the conversation",
            "queue": "the queue",
            "images": "the answer's images",
            **(labels or {}),
        }
        self.stops = stops
        self.closers = closers or {}
        self.outgoing: Outgoing | None = None
        self.requeue = False  # set by `stop`: a prompt not yet routed goes back in line
        self.settled = False  # set by `settle_for_exit`: nothing more is written for this turn
        self.offered = False  # a kept answer was offered this turn (once is enough)
        self._guard = _Guard(self.labels, stops, self.closers)

    # ---- the queue's side, outside a turn ---------------------------------------------------------

    def claim(self, item: QueueItem, model: str | None) -> None:
        """A dispatcher took `item` from the line to send it now (a batch, before its task starts)."""
        self._queue().mark(item.id, "sending", model=model)

    def note_wait(self, item: QueueItem, until: float, reason: str) -> None:
        self._queue().note_wait(item.id, until, reason)

    def drop_unsent(self, item: QueueItem, reason: str) -> None:
        """An item a dispatcher will not send after all (a batch stopped before its turn)."""
        self._queue().mark(item.id, "cancelled", reason=reason)

    def _queue(self) -> RequestQueue:
        if self.queue is None:
            raise RuntimeError("this runner has no queue")
        return self.queue

    # ---- one turn ---------------------------------------------------------------------------------

    async def run(self, outgoing: Outgoing, consumer: TurnConsumer) -> None:
        """Drive `outgoing` to its end, every event shown by `consumer`. A cancel settles the stores, shows
        `Cancelled` and re-raises; any other exception settles them (failed, with its one line) and
        propagates, for the consumer to tell the user."""
        self.outgoing, self.requeue, self.settled, self.offered = outgoing, False, False, False
        self._guard = _Guard(self.labels, self.stops, self.closers)
        try:
            if not await consumer.ready(outgoing):
                return
            request = await self._plan(outgoing, consumer)
            if request is not None and not await self._from_cache(outgoing, request, consumer):
                await self._stream(outgoing, request, consumer)
        except asyncio.CancelledError:
            if not self.settled:
                self._settle_cancelled(outgoing)
                await consumer.show(Cancelled(outgoing.routed, outgoing.model, outgoing.text))
            raise
        except Exception as exc:
            self._settle_error(outgoing, one_line(exc, self.wire.secrets))
            raise
        finally:
            self.outgoing = None

    def stop(self, requeue: bool) -> None:
        """Before the consumer cancels the turn's task: whether a prompt not yet routed goes back in line
        (edited, merged, or re-evaluated for another profile) or is cancelled."""
        self.requeue = requeue

    async def _plan(self, outgoing: Outgoing, consumer: TurnConsumer) -> Request | None:
        """The request to send: a one-off's own, or the conversation's prompt stored and planned under the
        context budget of every model the router may pick. None when no model can take it."""
        session = outgoing.session
        if session is None:
            await consumer.show(Planned(None))
            return outgoing.request
        await learn_context_windows(session.budget, self.wire.client(), candidates(outgoing.routing.preference)[1])
        try:
            outgoing.prepared = self._prepare(outgoing, session)
        except ContextTooLarge as exc:
            await self._not_sent(outgoing, session, str(exc), consumer)
            return None
        if outgoing.item is not None:
            self._queue().set_message(outgoing.item.id, outgoing.prepared.user_message.id)
        await consumer.show(Planned(outgoing.prepared))
        return outgoing.prepared.request

    @staticmethod
    def _prepare(outgoing: Outgoing, session: ChatSession) -> PreparedTurn:
        routing = outgoing.routing
        if outgoing.retry_of is not None:
            return session.prepare_again(
                outgoing.retry_of,
                preference=routing.preference,
                policy=routing.policy,
                threshold_s=routing.threshold_s,
                max_output_tokens=routing.max_output_tokens,
                generation=routing.generation,
            )
        return session.prepare(
            outgoing.prompt,
            preference=routing.preference,
            policy=routing.policy,
            threshold_s=routing.threshold_s,
            max_output_tokens=routing.max_output_tokens,
            generation=routing.generation,
            attachments=outgoing.attachments,
        )

    async def _not_sent(self, outgoing: Outgoing, session: ChatSession, reason: str, consumer: TurnConsumer) -> None:
        if outgoing.item is not None:
            self._queue().mark(outgoing.item.id, "failed", error=reason)
        stored = None
        if outgoing.retry_of is None:
            session.reload()
            stored = next((m for m in reversed(session.messages) if m.role == "user"), None)
        await consumer.show(NotSent(reason, stored))

    # ---- the response cache ----------------------------------------------------------------------

    def _cached(self, request: Request, create: bool) -> CachedAnswer | None:
        """This very request's answer in the cache, for the models it may be routed to (None on any
        trouble with the cache file: the request is then sent, as without a cache)."""
        try:
            if self.cache is None:
                return None
            return self.cache.lookup(
                request, candidates(request.preference)[1], create=create, provider=self.wire.cache_scope
            )
        except Exception:
            logger.exception("could not read the response cache")
            return None

    async def _from_cache(self, outgoing: Outgoing, request: Request, consumer: TurnConsumer) -> bool:
        """Before routing: an enabled cache that holds the answer serves it; nothing is reserved or sent.
        A /retry asks for a new answer: it is sent (and its answer kept in place of the old one)."""
        if self.cache is None or not self.cache.enabled or outgoing.retry_of is not None:
            return False
        hit = self._cached(request, create=True)
        if hit is None:
            return False
        first = outgoing.first_decision
        reservation = first.admission.reservation_id if first is not None and first.kind == "go" else None
        if reservation:  # a dispatcher routed it before the cache was asked, and nothing was sent: room back
            self.wire.engine.release(reservation)
        await self._serve(outgoing, hit, consumer)
        return True

    async def _serve(self, outgoing: Outgoing, hit: CachedAnswer, consumer: TurnConsumer) -> None:
        assert self.cache is not None
        self.cache.hits += 1
        await self._handle(outgoing, Routed(hit.model, hit.model, note="answered from the response cache"), consumer)
        await self._handle(outgoing, Delta(hit.text, hit.usage), consumer)  # consumers show text as it streams
        await self._handle(outgoing, served(hit), consumer)

    def _keep(self, request: Request, event: Finished) -> None:
        """A fresh complete answer goes into an enabled cache; a cache that cannot be written is logged,
        never the turn's failure."""
        if self.cache is None or not self.cache.enabled:
            return
        try:
            self.cache.keep(request, event, provider=self.wire.cache_scope)
        except Exception:
            logger.exception("could not store the answer in the response cache")

    async def _offer(self, outgoing: Outgoing, request: Request, event: Waiting, consumer: TurnConsumer) -> bool:
        """A wait past the threshold: an answer the cache already holds is offered instead (True: served)."""
        if self.cache is None or not self.cache.offer or self.offered:
            return False
        if event.until - self.wire.engine.clock.now() <= request.threshold_s:
            return False
        hit = self._cached(request, create=False)
        if hit is None:
            return False
        self.offered = True
        if not await consumer.offer_cached(hit, event):
            return False
        await self._serve(outgoing, hit, consumer)
        return True

    # ---- sending ----------------------------------------------------------------------------------

    async def _stream(self, outgoing: Outgoing, request: Request, consumer: TurnConsumer) -> None:
        """Send until the turn ends; an `ask` answered with switch or wait sends again."""
        wire = self.wire
        first = outgoing.first_decision
        while True:
            events = send(
                request,
                engine=wire.engine,
                client=wire.client(),
                project=wire.project,
                secrets=wire.secrets,
                first_decision=first,
                backup=wire.backup(),
            )
            first = None
            async with contextlib.aclosing(events):
                async for event in events:
                    if self.settled:  # settled for exit: nothing more is stored for this turn
                        return
                    if isinstance(event, AskUser):
                        if not await self._asked(outgoing, request, event, consumer):
                            return
                        break
                    await self._handle(outgoing, event, consumer)
                    if isinstance(event, Finished):
                        self._keep(request, event)
                    elif isinstance(event, Waiting) and await self._offer(outgoing, request, event, consumer):
                        return
                else:
                    return

    async def _asked(self, outgoing: Outgoing, request: Request, event: AskUser, consumer: TurnConsumer) -> bool:
        """Policy `ask`: True to send again (switched or waiting), False when the prompt was cancelled."""
        self._record(outgoing, event)
        await consumer.show(event)
        choice = await consumer.choose(event)
        if choice == "switch":
            request.forced_route = event.alternative
            return True
        if choice == "wait":
            request.policy = "wait"
            return True
        if outgoing.item is not None:
            self._queue().cancel(outgoing.item.id)
        if outgoing.session is not None and outgoing.prepared is not None:
            outgoing.session.unsend(outgoing.prepared.user_message.id, keep=outgoing.retry_of is not None)
        return False

    async def _handle(self, outgoing: Outgoing, event: Event, consumer: TurnConsumer) -> None:
        """One sender event: stored, then shown, then (for the end of the turn) the queue told. Text is
        shown first: what reaches the screen or stdout never waits on a store (the session keeps the
        answer's text in memory between its periodic writes anyway)."""
        if isinstance(event, Delta):
            outgoing.text += event.text
            await consumer.show(event)
            self._record(outgoing, event)
            await self._flush_unsaved(consumer)
            return
        if isinstance(event, Finished) and event.images:
            self._guard.write("images", self._save_images, event)
        self._record(outgoing, event)
        item = outgoing.item
        if isinstance(event, Waiting) and item is not None:
            reason = event.reason if event.model in event.reason else f"{event.model}: {event.reason}"
            self._queue().note_wait(item.id, event.until, reason)
        elif isinstance(event, Routed):
            outgoing.routed, outgoing.model = True, event.model
            if item is not None:
                self._guard.write("queue", self._queue().mark, item.id, "sending", model=event.model)
        elif isinstance(event, Failed):
            self._unsend_failed(outgoing, event)
        await self._flush_unsaved(consumer)
        await consumer.show(event)
        if isinstance(event, Finished) and item is not None:
            self._guard.write("queue", self._queue().mark, item.id, "done", model=event.model)
        elif isinstance(event, Failed) and item is not None:
            self._queue().mark(item.id, "failed", error=event.failure.message, model=event.model)
        await self._flush_unsaved(consumer)

    def _save_images(self, event: Finished) -> None:
        """Images out are files before the answer is stored or shown, so both can name them."""
        event.saved = save_images(event.images, self.images_dir)

    def _record(self, outgoing: Outgoing, event: object) -> None:
        if outgoing.session is not None:
            self._guard.write("conversation", outgoing.session.record, event)

    @staticmethod
    def _unsend_failed(outgoing: Outgoing, event: Failed) -> None:
        """No answer: the prompt stays stored, with its error, never sent as history."""
        if not event.partial and outgoing.session is not None and outgoing.prepared is not None:
            outgoing.session.unsend(outgoing.prepared.user_message.id, keep=True, error=event.failure.message)

    async def _flush_unsaved(self, consumer: TurnConsumer) -> None:
        while self._guard.unsaved:
            await consumer.show(self._guard.unsaved.pop(0))

    # ---- settling a turn that did not end by itself -----------------------------------------------

    def _unsend_unrouted(self, outgoing: Outgoing, requeue: bool) -> None:
        """A prompt no model took: its stored copy removed (a /retry's kept), the item back in line
        (`requeue`) or cancelled."""
        session, prepared, item = outgoing.session, outgoing.prepared, outgoing.item
        if session is not None and prepared is not None:
            session.unsend(prepared.user_message.id, keep=outgoing.retry_of is not None)
            if outgoing.retry_of is None and item is not None:  # stored afresh when it is sent
                self._queue().set_message(item.id, None)
        if not requeue and item is not None:
            self._queue().cancel(item.id)

    def _settle_cancelled(self, outgoing: Outgoing) -> None:
        """Esc, /new, a profile switch…: a routed answer is kept as cut; a prompt never routed goes back
        to the queue (`requeue`) or is cancelled there."""
        try:
            if not outgoing.routed:
                self._unsend_unrouted(outgoing, self.requeue)
                return
            if outgoing.item is not None:
                self._queue().mark(outgoing.item.id, "cancelled")
            if outgoing.session is not None:
                outgoing.session.abandon(outgoing.text, "cancelled")
        except Exception:  # the cancel itself must not fail; the next start recovers the item
            logger.exception("could not settle a cancelled turn")

    def _settle_error(self, outgoing: Outgoing, message: str) -> None:
        """An unexpected exception: the item failed with its one line, the answer kept as cut or the
        prompt kept stored with the error."""
        try:
            if outgoing.item is not None and self.queue is not None:
                self.queue.mark(outgoing.item.id, "failed", error=message)
            session = outgoing.session if "conversation" not in self._guard.stopped else None
            if session is not None and outgoing.routed:
                session.abandon(outgoing.text, message)
            elif session is not None and outgoing.prepared is not None:
                session.unsend(outgoing.prepared.user_message.id, keep=True, error=message)
        except Exception:  # the consumer still tells the user
            logger.exception("could not store the error of a turn")

    def settle_for_exit(self, *, keep: bool, reason: str) -> None:
        """Before the app stops (quit or crash), synchronously: the turn in flight is left as the next start
        expects it, whatever its task manages while it is torn down. A prompt not yet routed goes back in
        line (`keep`) or is cancelled; an answer being written is kept as cut with `reason`, its item failed."""
        self.settled = True
        outgoing = self.outgoing
        if outgoing is None or self.queue is None or outgoing.item is None:
            return
        try:
            if not outgoing.routed:
                self._unsend_unrouted(outgoing, keep)
                return
            if outgoing.session is not None:
                outgoing.session.abandon(outgoing.text, reason)
            self.queue.mark(outgoing.item.id, "failed", error=reason, model=outgoing.model or None)
        except Exception:  # the rest must still be settled; the next start recovers this item
            logger.exception("could not settle the prompt in flight before exit")


def cancel_waiting(queue: RequestQueue, items: list[QueueItem]) -> None:
    """Cancel prompts that wait in line (quitting with "cancel"): each on its own, so one that cannot be
    written does not keep the others."""
    for item in items:
        try:
            queue.cancel(item.id)
        except Exception:
            logger.exception("could not cancel queue item %s", item.id)


async def run_one(runner: TurnRunner, outgoing: Outgoing, show: Callable[[TurnEvent], Awaitable[None] | None]) -> None:
    """`runner.run` with a plain callable as the consumer (nobody to ask: `ask` cancels)."""
    await runner.run(outgoing, _CallbackConsumer(show))


class _CallbackConsumer(TurnConsumer):
    def __init__(self, show: Callable[[TurnEvent], Awaitable[None] | None]) -> None:
        self._show = show

    async def show(self, event: TurnEvent) -> None:
        maybe = self._show(event)
        if maybe is not None:
            await maybe
