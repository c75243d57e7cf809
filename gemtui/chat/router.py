"""Which model a request goes to, and when: the routing policy over the quota engine.

`auto` prefers Pro; when Pro would wait longer than the threshold (or is blocked), the request goes
to the first fallback that is admissible now. It is never sticky: every request asks Pro first, so
the conversation returns to Pro as soon as Pro has room. A forced model never switches; it waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gemtui.quota.engine import Admission, QuotaEngine, RequestCost
from gemtui.quota.limits import FALLBACK_ORDER, resolve_model

Policy = Literal["switch", "wait", "ask"]
DecisionKind = Literal["go", "wait", "ask", "refuse"]


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


def candidates(preference: str) -> tuple[str, list[str]]:
    """(preferred model, models to try in order) for a `--model` value."""
    if preference in ("", "auto"):
        return FALLBACK_ORDER[0], list(FALLBACK_ORDER)
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
) -> Decision:
    """Route one request. `cost_for(model)` gives its cost on that model (budgets differ by model).

    `forced_route` pins this one request to a model (the user answered "switch now" under `ask`).
    """
    preferred, order = candidates(preference)
    if forced_route:
        order = [forced_route]
    admit: Callable[[str, str, RequestCost], Admission] = engine.try_reserve if reserve else engine.check

    first = engine.check(project, order[0], cost_for(order[0]))
    if first.granted:
        granted = admit(project, order[0], cost_for(order[0]))
        if granted.granted:
            return Decision("go", order[0], granted, preferred, first)
        first = granted  # lost a race with another process: treat as a wait
    if len(order) == 1:
        kind: DecisionKind = "refuse" if first.impossible else "wait"
        return Decision(kind, order[0], first, preferred, first, refusals=[first] if first.impossible else [])

    # auto mode, preferred model cannot go now
    if not first.impossible and (policy == "wait" or first.wait_s <= threshold_s):
        return Decision("wait", preferred, first, preferred, first)
    return _fall_back(engine, project, order, cost_for, first, policy, threshold_s, admit, preferred)


def _fall_back(
    engine: QuotaEngine,
    project: str,
    order: Sequence[str],
    cost_for: Callable[[str], RequestCost],
    first: Admission,
    policy: Policy,
    threshold_s: float,
    admit: Callable[[str, str, RequestCost], Admission],
    preferred: str,
) -> Decision:
    refusals = [first] if first.impossible else []
    waits: list[tuple[str, Admission]] = [] if first.impossible else [(order[0], first)]
    for model in order[1:]:
        checked = engine.check(project, model, cost_for(model))
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
