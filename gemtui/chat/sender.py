"""Sending one request to completion: route, wait when the engine says so, stream, learn, retry.

It yields events rather than printing, so the headless `ask`, the batch runner and the TUI all show
the same truth. The engine decides every wait; the SDK is never asked to retry on its own.

In auto mode a failure the ledger did not predict (a quota 429, a bare 429, a 5xx, a timeout) is booked
with the engine and the same request goes straight back through the router, holding the failed model for
this request: the next model that can admit it answers at once. A forced model waits and retries instead.
Just before the bytes leave, a reservation made before the server blocked its model is released and routed
again, so one surprise costs one 429 rather than one per request admitted in the meantime.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, replace

from gemtui.chat.images_out import SavedImage
from gemtui.chat.router import Decision, Hold, Policy, candidates, decide
from gemtui.chat.runtime_view import SdkClient
from gemtui.chat.tokens import (
    TokenEstimator,
    default_estimator,
    media_tokens,
    raw_attachments,
    scale_with_media,
)
from gemtui.diskfull import is_write_failure, note_unsaved
from gemtui.gemini.errors import Failure
from gemtui.generation import GenerationSettings
from gemtui.providers.switchboard import classify_via, count_via, stream_via
from gemtui.quota.admission import RequestCost
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.headers import HeaderFacts
from gemtui.quota.limits import images_per_request
from gemtui.turns import StreamChunk, Turn, Usage

MAX_TRANSIENT_ATTEMPTS = 5
MAX_STALE_REROUTES = 20  # reservations found stale before sending, per request: a guard, never reached


@dataclass
class Request:
    """What the user asked: history + the new prompt, and how to route it."""

    turns: list[Turn]
    system: str | None = None
    preference: str = "auto"
    policy: Policy = "switch"
    threshold_s: float = 20.0
    max_output_tokens: int | None = None
    cost_for: Callable[[str], RequestCost] | None = None
    forced_route: str | None = None
    # What to send once the model is known (a conversation's budget differs between models).
    turns_for: Callable[[str], list[Turn]] | None = None
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    def generation_for(self, model: str) -> GenerationSettings:
        """The generation settings sent to `model` (max_output_tokens fills max_output when unset)."""
        settings = self.generation
        if settings.max_output is None and self.max_output_tokens:
            settings = replace(settings, max_output=self.max_output_tokens)
        return settings.for_model(model)


# ---- events -------------------------------------------------------------------------------------


@dataclass
class Waiting:
    model: str
    until: float
    reason: str
    dimension: str | None = None


@dataclass
class AskUser:
    """Policy `ask`: the preferred model must wait; the caller chooses (switch / wait / cancel)."""

    preferred: str
    alternative: str
    until: float
    reason: str


@dataclass
class Routed:
    model: str
    preferred: str
    note: str = ""
    via: str = ""  # the backup profile's name when failover sent it

    @property
    def switched(self) -> bool:
        return self.model != self.preferred or bool(self.via)


@dataclass
class Delta:
    text: str
    usage: Usage | None = None


@dataclass
class Retrying:
    model: str
    until: float
    reason: str


@dataclass
class Finished:
    model: str
    text: str
    usage: Usage | None
    latency_s: float
    finish_reason: str | None
    switched_from: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)
    note: str = ""  # why it was switched (the Routed note), when it was
    saved: list[SavedImage] = field(default_factory=list)  # where the turn runner saved `images`


@dataclass
class Failed:
    failure: Failure
    model: str | None
    partial: str = ""
    refused_before_sending: bool = False


Event = Waiting | AskUser | Routed | Delta | Retrying | Finished | Failed


def estimate_cost(
    turns: list[Turn], system: str | None, model: str = "", estimator: TokenEstimator | None = None
) -> RequestCost:
    """The calibrated, high-side token estimate for a bare prompt (no conversation budget involved)."""
    estimator = estimator or default_estimator()
    media = sum(media_tokens(t.attachments) for t in turns)
    return RequestCost(
        input_tokens=max(1, scale_with_media(estimator, model, _raw_prompt(turns, system, estimator), media))
    )


def _raw_prompt(turns: list[Turn], system: str | None, estimator: TokenEstimator) -> int:
    return sum(estimator.raw_for_text(t.text) + raw_attachments(t.attachments) for t in turns) + estimator.raw_system(
        system
    )


async def _count_exactly(request: Request, target: Target, decision: Decision, exact: dict[str, RequestCost]) -> bool:
    """countTokens (no generate quota) for each model refused only because the estimate passed its TPM."""
    for refusal in decision.refusals or [decision.admission]:
        if refusal.dimension != "tpm" or not refusal.model:
            continue
        turns = request.turns_for(refusal.model) if request.turns_for else request.turns
        try:
            tokens = await count_via(target.client, refusal.model, turns)
        except Exception:  # the exact count is a refinement; the estimate's refusal stands
            continue
        exact[refusal.model] = RequestCost(input_tokens=tokens)
    return bool(exact)


def request_costs(request: Request, exact: dict[str, RequestCost] | None = None) -> Callable[[str], RequestCost]:
    """What `request` costs on each model: the caller's estimate (or our calibrated one), an exact
    countTokens answer where there is one, and the image an image model always generates (IPM).
    Every routing decision for the request, the sender's or a batch dispatcher's, uses this."""
    exact = exact if exact is not None else {}
    base = request.cost_for or (lambda model: estimate_cost(request.turns, request.system, model))

    def cost(model: str) -> RequestCost:
        known = exact.get(model) or base(model)
        return replace(known, images=max(known.images, images_per_request(model)))

    return cost


@dataclass
class Target:
    """Where a request can go: a profile's engine scope and SDK client."""

    engine: QuotaEngine
    client: SdkClient
    project: str
    label: str = ""
    secrets: tuple[str, ...] = ()


def _route(
    request: Request,
    target: Target,
    cost_for: Callable[[str], RequestCost],
    forced_route: str | None,
    reserve: bool = True,
    held: dict[str, Hold] | None = None,
) -> Decision:
    return decide(
        target.engine,
        target.project,
        request.preference,
        cost_for,
        policy=request.policy,
        threshold_s=request.threshold_s,
        forced_route=forced_route,
        reserve=reserve,
        held=held,
    )


# Answers that prove the server did not count the request: it never left the machine (unreachable), or it
# was refused before any work (a bad key, an unknown model, a bad request, a relay's own page). A quota 429
# proves it too, but the engine releases that one itself, reading its cost first.
_NOT_COUNTED = frozenset({"auth", "not_found", "bad_request", "not_gemini", "unreachable"})


def may_have_counted(failure: Failure) -> bool:
    """Whether the server may have counted a request that failed so: its bytes left and nothing proves
    otherwise (a cut, a timeout, an error event, a 5xx, a bare 429, anything unrecognised)."""
    return failure.kind not in _NOT_COUNTED and failure.kind != "rate_limited"


def _book(engine: QuotaEngine, action: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Write to the quota ledger after the request left. A ledger that cannot be written (a full disk)
    never stops the answer: it is noted once, and a reservation it could not settle stays counted."""
    try:
        action(*args, **kwargs)
    except Exception as exc:
        if not is_write_failure(exc):
            raise
        path = getattr(engine.ledger, "path", None)
        note_unsaved(f"the quota ledger ({path.name})" if path is not None else "the quota ledger", exc)


def _limits_learner(
    target: Target, model: str, cost_for: Callable[[str], RequestCost]
) -> Callable[[HeaderFacts], None]:
    """What the server's rate-limit headers said, booked as ledger facts of `model` on the target."""
    engine = target.engine

    def learn(facts: HeaderFacts) -> None:
        _book(engine, engine.on_rate_headers, target.project, model, facts, cost_for(model).input_tokens)

    return learn


def _failover(
    request: Request,
    decision: Decision,
    backup: Target | None,
    cost_for: Callable[[str], RequestCost],
    forced_route: str | None,
) -> Decision | None:
    """The backup profile takes the request only when the primary cannot admit it within the threshold."""
    if backup is None or decision.kind == "go" or decision.kind == "ask":
        return None
    if decision.kind == "wait" and decision.admission.wait_s <= request.threshold_s:
        return None
    alternative = _route(request, backup, cost_for, forced_route)
    return alternative if alternative.kind == "go" else None


async def send(
    request: Request,
    *,
    engine: QuotaEngine,
    client: SdkClient,
    project: str,
    secrets: tuple[str, ...] = (),
    first_decision: Decision | None = None,
    backup: Target | None = None,
) -> AsyncGenerator[Event, None]:
    """Drive one request to a Finished or Failed event.

    `first_decision`: a routing decision the caller already made (and reserved) for this request.
    `backup`: a backup profile's target, used only when the primary cannot admit within the threshold.
    """
    sending = _Sending(request, Target(engine, client, project, "", secrets), backup)
    while not sending.over:
        step = await sending.route(first_decision)
        first_decision = None
        if step is None:  # routed again at once (an exact count, a stale reservation)
            continue
        if isinstance(step, _Go):
            try:
                yield Routed(step.decision.model, step.decision.preferred, step.note, via=step.target.label)
            except BaseException:  # closed before anything was sent: the reservation is given back
                _book(step.target.engine, step.target.engine.release, step.decision.admission.reservation_id)
                raise
            async with contextlib.aclosing(sending.attempt(step)) as events:
                async for event in events:
                    yield event
            continue
        yield step
        if not isinstance(step, Waiting):
            return
        await sending.sleep_until(step.until)


@dataclass
class _Go:
    """A route that may go now: where, the decision holding its reservation, and why it was switched."""

    target: Target
    decision: Decision
    note: str


@dataclass
class _Answer:
    """What one attempt received so far."""

    started: float
    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)
    answering: bool = False  # the server accepted the request (its first chunk arrived)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def input_tokens(self) -> int | None:
        return self.usage.input_tokens if self.usage else None

    @property
    def empty(self) -> bool:
        """Nothing of an answer arrived: no text, no image, no usage, no finish reason. Every real answer
        carries one of them, even one blocked by safety or cut at zero tokens."""
        return not (self.parts or self.images or self.usage is not None or self.finish)


class _Sending:
    """One request's state between attempts: the models it failed on, exact counts, retries so far."""

    def __init__(self, request: Request, primary: Target, backup: Target | None) -> None:
        self.request, self.primary, self.backup = request, primary, backup
        self.clock = primary.engine.clock
        self.calibrate = request.cost_for is None  # our own estimate: learn from what the server counts
        self.exact: dict[str, RequestCost] = {}  # countTokens answers, where an estimate alone would refuse
        self.cost_for = request_costs(request, self.exact)
        self.transient_attempts: dict[str, int] = {}
        self.forced_route = request.forced_route
        # Auto mode re-routes after a failure; a forced model (or a pinned route) waits and retries.
        self.rerouting = self.forced_route is None and len(candidates(request.preference)[1]) > 1
        self.held: dict[str, Hold] = {}  # models this request failed on, and until when they are skipped
        self.last_failure: tuple[Failure, str] | None = None
        self.stale = 0
        self.over = False  # Finished or Failed was told

    async def sleep_until(self, until: float) -> None:
        await self.clock.sleep(max(0.0, until - self.clock.now()))

    # ---- routing ----------------------------------------------------------------------------------

    async def route(self, first: Decision | None) -> _Go | Event | None:
        """Route once: a `_Go` to send now; Waiting, AskUser or a refusal's Failed to tell; None to route
        again at once."""
        request, target, primary_decision = self.request, self.primary, None
        decision = first or _route(request, target, self.cost_for, self.forced_route, held=self.held)
        via_backup = _failover(request, decision, self.backup, self.cost_for, self.forced_route)
        if via_backup is not None and self.backup is not None:
            target, primary_decision, decision = self.backup, decision, via_backup
        # The estimate errs high on purpose; before refusing for TPM, ask the server for the exact count.
        if decision.kind == "refuse" and not self.exact and await _count_exactly(request, target, decision, self.exact):
            return None
        if decision.kind == "refuse":
            return self._refused(decision)
        if decision.kind == "ask":
            return AskUser(decision.preferred, decision.alternative or "", decision.admission.eta, decision.reason)
        if decision.kind == "wait":
            return Waiting(decision.model, decision.admission.eta, decision.reason, decision.admission.dimension)
        if self._stale(target, decision):
            return None
        return _Go(target, decision, self._note(target, decision, primary_decision))

    def _refused(self, decision: Decision) -> Failed:
        if self.last_failure is not None:
            # Every model this request could use has failed or is out for the day: report the failure itself.
            return Failed(self.last_failure[0], self.last_failure[1])
        reasons = "; ".join(a.reason for a in decision.refusals) or decision.reason
        return Failed(Failure("rate_limited", f"cannot send: {reasons}"), None, refused_before_sending=True)

    def _stale(self, target: Target, decision: Decision) -> bool:
        """Admitted before the server blocked this model (another request's surprise 429): held back."""
        model = decision.model
        if (
            self.stale >= MAX_STALE_REROUTES
            or target.engine.blocked_until(target.project, model, self.cost_for(model)) is None
        ):
            return False
        self.stale += 1
        if decision.admission.reservation_id is not None:  # a go decision is reserved
            target.engine.release(decision.admission.reservation_id)
        return True

    def _note(self, target: Target, decision: Decision, primary_decision: Decision | None) -> str:
        """Why a model other than the preferred one answers ("" when it is the preferred one)."""
        model = decision.model
        if target is self.backup and self.backup is not None and primary_decision is not None:
            return f"{primary_decision.reason} → sent with backup profile {self.backup.label} ({model})"
        if decision.switched and decision.preferred in self.held:
            return f"{self.held[decision.preferred].reason} → answered by {model}"  # this request failed there
        if decision.switched and decision.preferred_admission is not None:
            return f"{decision.preferred_admission.reason} → answered by {model}"
        return ""

    # ---- one attempt --------------------------------------------------------------------------------

    async def attempt(self, go: _Go) -> AsyncGenerator[Event, None]:
        """Stream the answer from the routed model and book it; after a failure, say what comes next
        (nothing: routed again at once; Retrying: the same model after a wait; Failed: the end)."""
        request, target, model = self.request, go.target, go.decision.model
        reservation = go.decision.admission.reservation_id
        answer = _Answer(time.monotonic())
        failure: Failure | None = None
        turns = request.turns
        try:
            turns = request.turns_for(model) if request.turns_for else request.turns
            async for chunk in stream_via(
                target.client,
                model,
                turns,
                system=request.system,
                generation=request.generation_for(model),
                on_limits=_limits_learner(target, model, self.cost_for),
            ):
                if self._received(target, reservation, answer, chunk):
                    yield Delta(chunk.text, answer.usage)
        except Exception as exc:  # every failure becomes a typed outcome
            failure = classify_via(
                target.client, model, exc, secrets=target.secrets, streaming_started=bool(answer.parts)
            )
            self._book_failed(target, reservation, answer, failure)
        except BaseException:
            # Cancelled (Esc, Ctrl-C) inside the stream: the request was on its way or on the wire, and the
            # server may count it with no chunk back yet, so it stays spent (released, it came back as 429s).
            kwargs = {"input_tokens": answer.input_tokens} if answer.answering else {}
            _book(target.engine, target.engine.commit, reservation, **kwargs)
            raise
        if failure is None and answer.empty:
            # A success status with nothing of an answer in it (another service's JSON, an empty body): not
            # an empty answer to keep, but a wrong endpoint. Booked as the failure's kind says.
            failure = Failure("not_gemini", "the endpoint answered without any part of an answer; check the URL")
            if not answer.answering:  # a chunk that came was booked when it came
                self._book_failed(target, reservation, answer, failure)
        if failure is not None:
            event, until = self._after_failure(target, model, failure, answer, reservation)
            if event is not None:
                self.over = isinstance(event, Failed)
                yield event
            if until is not None:
                await self.sleep_until(until)
            return
        self.over = True
        yield self._finished(go, answer, turns)

    @staticmethod
    def _received(target: Target, reservation: str | None, answer: _Answer, chunk: StreamChunk) -> bool:
        """One chunk taken in; True when it carries text to tell."""
        if not answer.answering:
            # The server accepted the request: booked now, before anything else writes to the disk.
            answer.answering = True
            _book(target.engine, target.engine.commit, reservation)
        answer.usage = chunk.usage or answer.usage
        answer.finish = chunk.finish_reason or answer.finish
        answer.images.extend(chunk.images)
        if chunk.text:
            answer.parts.append(chunk.text)
        return bool(chunk.text)

    @staticmethod
    def _book_failed(target: Target, reservation: str | None, answer: _Answer, failure: Failure) -> None:
        accepted = bool(answer.parts) or answer.usage is not None
        if accepted or may_have_counted(failure):
            # The server accepted the request, or may have (its bytes left and no answer proves they were
            # not counted): it counts against quota whatever happened later. Under-counting brings 429s.
            _book(target.engine, target.engine.commit, reservation, input_tokens=answer.input_tokens)
        elif failure.kind != "rate_limited":
            # refused or never delivered: the server did not count it
            _book(target.engine, target.engine.release, reservation)

    def _finished(self, go: _Go, answer: _Answer, turns: list[Turn]) -> Finished:
        """The answer is complete: booked, the breaker told, our estimate calibrated."""
        target, decision, model = go.target, go.decision, go.decision.model
        usage = answer.usage
        _book(target.engine, target.engine.commit, decision.admission.reservation_id, input_tokens=answer.input_tokens)
        _book(target.engine, target.engine.on_success, target.project, model)
        if self.calibrate and usage and usage.input_tokens:
            estimator = default_estimator()
            estimator.observe(model, _raw_prompt(turns, self.request.system, estimator), usage.input_tokens)
        return Finished(
            model=model,
            text=answer.text,
            usage=usage,
            latency_s=time.monotonic() - answer.started,
            finish_reason=answer.finish,
            switched_from=decision.preferred if decision.switched else None,
            images=answer.images,
            note=go.note,
        )

    # ---- after a failure ----------------------------------------------------------------------------

    def _after_failure(
        self, target: Target, model: str, failure: Failure, answer: _Answer, reservation: str | None
    ) -> tuple[Event | None, float | None]:
        """(None, None): route again now; (Retrying, until): the same model at `until`; (Failed, None)."""
        partial = answer.text
        reroute = self.rerouting and target is self.primary and not partial
        engine = target.engine
        if failure.kind == "capacity" and failure.hit is not None and not partial:
            # No quota named: the engine's own backoff for bare 429s (longer than for 5xx), no quota change.
            verdict = engine.on_rate_limited(target.project, model, failure.hit, None)
            hold = Hold(verdict.not_before if verdict.retry else math.inf, f"{model}: {failure.message}", trusted=False)
            return self._hold_or_retry(
                reroute,
                model,
                failure,
                hold,
                verdict.retry,
                verdict.not_before,
                f"{failure.message}; quota unchanged",
                partial,
            )
        if failure.kind == "rate_limited" and failure.hit is not None:
            # The engine releases the refused reservation itself, reading its cost first.
            accepted = bool(answer.parts) or answer.usage is not None
            verdict = engine.on_rate_limited(target.project, model, failure.hit, None if accepted else reservation)
            # Booked; rerouted, the same request asks the router again (the server's delay is the hold).
            hold = Hold(verdict.not_before if verdict.retry else math.inf, verdict.reason)
            return self._hold_or_retry(
                reroute, model, failure, hold, verdict.retry, verdict.not_before, verdict.reason, partial
            )
        if failure.transient and not partial:
            return self._after_transient(target, model, failure, reroute)
        if failure.transient:  # cut after text arrived: kept, not retried, but it feeds the breaker
            _book(engine, engine.on_stream_cut, target.project, model)
        return Failed(failure, model, partial), None

    def _after_transient(
        self, target: Target, model: str, failure: Failure, reroute: bool
    ) -> tuple[Event | None, float | None]:
        """A 5xx, a timeout, a cut before any text: no quota evidence, the breaker's backoff."""
        attempts = self.transient_attempts[model] = self.transient_attempts.get(model, 0) + 1
        verdict = target.engine.on_transient_failure(target.project, model, attempts)
        retry = verdict.retry and attempts < MAX_TRANSIENT_ATTEMPTS
        # the engine's jittered backoff, but never sooner than the server's Retry-After
        not_before = max(verdict.not_before, self.clock.now() + (failure.retry_after_s or 0.0))
        floored = not_before > verdict.not_before  # the message already says the server's wait
        reason = failure.message if floored else f"{failure.message}; {verdict.reason}"
        # Rerouted: skip this model for the request while another can go now.
        hold = Hold(not_before if retry else math.inf, f"{model}: {failure.message}", trusted=False)
        return self._hold_or_retry(reroute, model, failure, hold, retry, not_before, reason, "")

    def _hold_or_retry(
        self,
        reroute: bool,
        model: str,
        failure: Failure,
        hold: Hold,
        retry: bool,
        not_before: float,
        reason: str,
        partial: str,
    ) -> tuple[Event | None, float | None]:
        if reroute:
            self.held[model] = hold
            self.last_failure = (failure, model)
            return None, None
        if retry:
            return Retrying(model, not_before, reason), not_before
        return Failed(failure, model, partial), None
