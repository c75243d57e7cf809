"""Sending one request to completion: route, wait when the engine says so, stream, learn, retry.

It yields events rather than printing, so the headless `ask`, the batch runner and the TUI all show
the same truth. The engine decides every wait; the SDK is never asked to retry on its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gemtui.chat.router import Decision, Policy, decide
from gemtui.chat.tokens import TokenEstimator, default_estimator
from gemtui.gemini.client import StreamChunk, Turn, Usage, count_tokens, stream_answer
from gemtui.gemini.errors import Failure, classify
from gemtui.quota.engine import QuotaEngine, RequestCost
from gemtui.quota.limits import images_per_request

MAX_TRANSIENT_ATTEMPTS = 5


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


@dataclass
class Failed:
    failure: Failure
    model: str | None
    partial: str = ""
    refused_before_sending: bool = False


Event = Waiting | AskUser | Routed | Delta | Retrying | Finished | Failed


def estimate_cost(turns: list[Turn], system: str | None, model: str = "",
                  estimator: TokenEstimator | None = None) -> RequestCost:
    """The calibrated, high-side token estimate for a bare prompt (no conversation budget involved)."""
    estimator = estimator or default_estimator()
    return RequestCost(input_tokens=max(1, estimator.scale(model, _raw_prompt(turns, system, estimator))))


def _raw_prompt(turns: list[Turn], system: str | None, estimator: TokenEstimator) -> int:
    return sum(estimator.raw_for_text(t.text) for t in turns) + estimator.raw_system(system)


async def _count_exactly(request: Request, target: Target, decision: Decision,
                         exact: dict[str, RequestCost]) -> bool:
    """countTokens (no generate quota) for each model refused only because the estimate passed its TPM."""
    for refusal in decision.refusals or [decision.admission]:
        if refusal.dimension != "tpm" or not refusal.model:
            continue
        turns = request.turns_for(refusal.model) if request.turns_for else request.turns
        try:
            tokens = await count_tokens(target.client, refusal.model, turns)
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
    client: Any
    project: str
    label: str = ""
    secrets: tuple[str, ...] = ()


def _route(request: Request, target: Target, cost_for: Callable[[str], RequestCost], forced_route: str | None,
           reserve: bool = True) -> Decision:
    return decide(target.engine, target.project, request.preference, cost_for, policy=request.policy,
                  threshold_s=request.threshold_s, forced_route=forced_route, reserve=reserve)


def _failover(request: Request, decision: Decision, backup: Target | None,
              cost_for: Callable[[str], RequestCost], forced_route: str | None) -> Decision | None:
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
    client: Any,
    project: str,
    secrets: tuple[str, ...] = (),
    first_decision: Decision | None = None,
    backup: Target | None = None,
) -> AsyncIterator[Event]:
    """Drive one request to a Finished or Failed event.

    `first_decision`: a routing decision the caller already made (and reserved) for this request.
    `backup`: a backup profile's target, used only when the primary cannot admit within the threshold.
    """
    primary = Target(engine, client, project, "", secrets)
    clock = engine.clock
    calibrate = request.cost_for is None  # our own estimate: learn from what the server counts
    exact: dict[str, RequestCost] = {}  # countTokens answers, where an estimate alone would refuse
    cost_for = request_costs(request, exact)
    transient_attempts = 0
    forced_route = request.forced_route
    while True:
        target = primary
        decision: Decision = first_decision or _route(request, primary, cost_for, forced_route)
        first_decision = None
        via_backup = _failover(request, decision, backup, cost_for, forced_route)
        if via_backup is not None and backup is not None:
            target, primary_decision, decision = backup, decision, via_backup
        if decision.kind == "refuse" and not exact:
            # The estimate errs high on purpose; before refusing for TPM, ask the server for the exact count.
            counted = await _count_exactly(request, target, decision, exact)
            if counted:
                continue
        if decision.kind == "refuse":
            reasons = "; ".join(a.reason for a in decision.refusals) or decision.reason
            yield Failed(Failure("rate_limited", f"cannot send: {reasons}"), None, refused_before_sending=True)
            return
        if decision.kind == "ask":
            yield AskUser(decision.preferred, decision.alternative or "", decision.admission.eta, decision.reason)
            return
        if decision.kind == "wait":
            yield Waiting(decision.model, decision.admission.eta, decision.reason, decision.admission.dimension)
            await clock.sleep(max(0.0, decision.admission.eta - clock.now()))
            continue

        model = decision.model
        reservation = decision.admission.reservation_id
        note = ""
        if decision.switched and decision.preferred_admission is not None:
            note = f"{decision.preferred_admission.reason} → answered by {model}"
        if target is backup:
            note = f"{primary_decision.reason} → sent with backup profile {backup.label} ({model})"
        yield Routed(model, decision.preferred, note, via=target.label)

        started = time.monotonic()
        text_parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        images: list[tuple[str, bytes]] = []
        try:
            turns = request.turns_for(model) if request.turns_for else request.turns
            async for chunk in stream_answer(
                target.client, model, turns, system=request.system, max_output_tokens=request.max_output_tokens
            ):
                chunk: StreamChunk
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
                images.extend(chunk.images)
                if chunk.text:
                    text_parts.append(chunk.text)
                    yield Delta(chunk.text, usage)
        except Exception as exc:  # every failure becomes a typed outcome
            failure = classify(exc, secrets=target.secrets, streaming_started=bool(text_parts))
            partial = "".join(text_parts)
            accepted = bool(text_parts) or usage is not None
            if accepted:
                # The server accepted the request: it counts against quota whatever happened later.
                target.engine.commit(reservation, input_tokens=usage.input_tokens if usage else None)
            elif failure.kind != "rate_limited":
                target.engine.release(reservation)  # refused or never delivered: the server did not count it
            if failure.kind == "rate_limited" and failure.hit is not None:
                # The engine releases the refused reservation itself, reading its cost first.
                refused = None if accepted else reservation
                verdict = target.engine.on_rate_limited(target.project, model, failure.hit, refused)
                if verdict.retry:
                    yield Retrying(model, verdict.not_before, verdict.reason)
                    await clock.sleep(max(0.0, verdict.not_before - clock.now()))
                    continue
                yield Failed(failure, model, partial)
                return
            if failure.transient and not partial:
                transient_attempts += 1
                verdict = target.engine.on_transient_failure(target.project, model, transient_attempts)
                if verdict.retry and transient_attempts < MAX_TRANSIENT_ATTEMPTS:
                    yield Retrying(model, verdict.not_before, f"{failure.message}; {verdict.reason}")
                    await clock.sleep(max(0.0, verdict.not_before - clock.now()))
                    continue
            yield Failed(failure, model, partial)
            return
        except BaseException:
            # Cancelled (Esc, Ctrl-C): keep the books honest before unwinding.
            if text_parts or usage is not None:
                target.engine.commit(reservation, input_tokens=usage.input_tokens if usage else None)
            else:
                target.engine.release(reservation)
            raise

        target.engine.commit(reservation, input_tokens=usage.input_tokens if usage else None)
        target.engine.on_success(target.project, model)
        if calibrate and usage and usage.input_tokens:
            estimator = default_estimator()
            estimator.observe(model, _raw_prompt(turns, request.system, estimator), usage.input_tokens)
        yield Finished(
            model=model,
            text="".join(text_parts),
            usage=usage,
            latency_s=time.monotonic() - started,
            finish_reason=finish,
            switched_from=decision.preferred if decision.switched else None,
            images=images,
        )
        return

