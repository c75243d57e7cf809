"""Which model a request goes to, and when: the routing policy over the quota engine.

`auto` prefers Pro; when Pro would wait longer than the threshold (or is blocked), the request goes
to the first fallback that is admissible now. It is never sticky: every request asks Pro first, so
the conversation returns to Pro as soon as Pro has room. A forced model never switches; it waits.

A request that already failed on a model carries a `Hold` for it: that model is not admitted again for
this request before the hold ends. A hold with the server's delay (a quota 429) is waited for like any
other wait under the threshold; a hold after a failure that named no delay (bare 429, 5xx, timeout) is
never worth waiting for while another model can go now.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from gemtui.quota.admission import Admission, RequestCost
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.limits import FALLBACK_ORDER, resolve_model

Policy = Literal["switch", "wait", "ask"]
DecisionKind = Literal["go", "wait", "ask", "refuse"]


@dataclass(frozen=True)
class Hold:
    """This request failed on a model: not before `until` (epoch s; math.inf: not again), and why.

    `trusted`: the wait comes from the server (a quota 429's delay), so the threshold may wait for it.
    """

    until: float
    reason: str
    trusted: bool = True


@dataclass
class Decision:
    """What to do with one request now.

    go:     `admission` holds a reservation on `model` — send it.
    wait:   nothing reserved; ask again at `admission.eta`.
    ask:    the preferred model must wait; `alternative` could go now (TUI asks the user).
    refuse: no candidate can ever take the request; `reason` says which limit.
    """

    kind: DecisionKind
    model: str
    admission: Admission
    preferred: str
    preferred_admission: Admission | None = None
    alternative: str | None = None
    refusals: list[Admission] = field(default_factory=list)

    @property
    def switched(self) -> bool:
        return self.kind == "go" and self.model != self.preferred

    @property
    def reason(self) -> str:
        return self.admission.reason


_ROUTE: list[str] = []  # the configured route chain (`[routing] route`), empty: the built-in order


def use_route(links: Sequence[str] | None) -> None:
    """Auto mode follows this chain from now on: aliases or model ids, and `profile:model` links."""
    _ROUTE[:] = [str(link).strip() for link in links or () if str(link).strip()]


def route_chain() -> list[str]:
    """The models auto mode tries, in order: the configured chain (aliases resolved now), else the
    built-in fallback order."""
    if not _ROUTE:
        return list(FALLBACK_ORDER)
    return list(dict.fromkeys(resolve_model(link) for link in _ROUTE))


def candidates(preference: str) -> tuple[str, list[str]]:
    """(preferred model, models to try in order) for a `--model` value."""
    if preference in ("", "auto"):
        order = route_chain()
        return order[0], order
    model = resolve_model(preference)
    return model, [model]


def decide(
    engine: QuotaEngine,
    project: str,
    preference: str,
    cost_for: Callable[[str], RequestCost],
    *,
    policy: Policy = "switch",
    threshold_s: float = 20.0,
    reserve: bool = True,
    forced_route: str | None = None,
    held: Mapping[str, Hold] | None = None,
) -> Decision:
    """Route one request. `cost_for(model)` gives its cost on that model (budgets differ by model).

    `forced_route` pins this one request to a model (the user answered "switch now" under `ask`).
    `held`: models this request already failed on (see `Hold`).
    """
    preferred, order = candidates(preference)
    if forced_route:
        order = [forced_route]
    held = held or {}
    admit: Callable[[str, str, RequestCost], Admission] = engine.try_reserve if reserve else engine.check

    def check(model: str) -> Admission:
        return _with_hold(engine.check(project, model, cost_for(model)), held.get(model), engine.clock.now())

    first = check(order[0])
    if first.granted:
        granted = admit(project, order[0], cost_for(order[0]))
        if granted.granted:
            return Decision("go", order[0], granted, preferred, first)
        first = granted  # lost a race with another process: treat as a wait
    if len(order) == 1:
        kind: DecisionKind = "refuse" if first.impossible else "wait"
        return Decision(kind, order[0], first, preferred, first, refusals=[first] if first.impossible else [])

    # auto mode, preferred model cannot go now (an open circuit is waited for only under policy "wait")
    hold = held.get(order[0])
    worth_waiting = policy == "wait" or (
        first.wait_s <= threshold_s
        and first.dimension != "circuit"
        and (hold is None or hold.trusted or first.eta > hold.until)
    )
    if not first.impossible and worth_waiting:
        return Decision("wait", preferred, first, preferred, first)
    return _fall_back(check, project, order, cost_for, first, policy, admit, preferred)


def _with_hold(admission: Admission, hold: Hold | None, now: float) -> Admission:
    """The engine's admission, no sooner than the request's own hold on that model."""
    if hold is None or hold.until <= now or admission.impossible or admission.eta >= hold.until:
        return admission
    impossible = math.isinf(hold.until)
    return replace(
        admission,
        granted=False,
        reservation_id=None,
        eta=hold.until,
        wait_s=max(0.0, hold.until - now),
        dimension="held",
        impossible=impossible,
        reason=hold.reason,
    )


def _fall_back(
    check: Callable[[str], Admission],
    project: str,
    order: Sequence[str],
    cost_for: Callable[[str], RequestCost],
    first: Admission,
    policy: Policy,
    admit: Callable[[str, str, RequestCost], Admission],
    preferred: str,
) -> Decision:
    refusals = [first] if first.impossible else []
    waits: list[tuple[str, Admission]] = [] if first.impossible else [(order[0], first)]
    for model in order[1:]:
        checked = check(model)
        if checked.granted:
            if policy == "ask" and not first.impossible:
                return Decision("ask", preferred, first, preferred, first, alternative=model)
            granted = admit(project, model, cost_for(model))
            if granted.granted:
                return Decision("go", model, granted, preferred, first, refusals=refusals)
            checked = granted
        if checked.impossible:
            refusals.append(checked)
        else:
            waits.append((model, checked))
    if not waits:
        return Decision("refuse", preferred, first, preferred, first, refusals=refusals)
    # Nothing can go now: wait for whichever frees first (ties go to the earlier, better model).
    model, soonest = min(waits, key=lambda pair: pair[1].eta)
    return Decision("wait", model, soonest, preferred, first, refusals=refusals)
