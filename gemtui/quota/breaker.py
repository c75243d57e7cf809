"""The circuit breaker of one endpoint and model: stop sending where the server keeps failing.

Failures that are not quota answers (a bare 429, a 5xx or 503, a timeout, a cut stream) say the path to a
model is unhealthy; a quota 429 with details only says a limit was reached, so it never counts here.

- **closed**: every request goes. Outcomes are counted over a sliding time window (`window_s`, 60 s by
  default). When the window holds at least `min_requests` outcomes and failures are at least `threshold`
  of them (default 2 of 4), the circuit opens.
- **open**: nothing is admitted until `probe_at` = opening + the cooling period. The cooling period is
  `cooling_s` (30 s), doubled for each repeat opening — a failed probe, or an opening within `max_cooling_s`
  of the last close — up to `max_cooling_s` (5 min).
- **half-open**: from `probe_at` the first request admitted takes the probe; the others are refused until
  it ends. Its success closes the circuit (with a fresh window); its failure re-opens it, cooling doubled.
  A probe whose request ends without health evidence (cancelled, a quota 429, a bad request) hands the
  probe back at once; one whose process died is taken over after `PROBE_LEASE_S`.

The functions here are pure: the ledger stores a `Circuit` per endpoint and model and applies them inside
one transaction, so every process sharing the ledger sees one breaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gemtui.quota.admission import clock_time
from gemtui.quota.ledger import CLOSED, HALF_OPEN, OPEN, Circuit

PROBE_LEASE_S = 120.0  # a probe not heard of for this long was lost with its process; another may probe
PROBE_POLL_S = 5.0  # while a probe is in flight, a waiting request asks again this often
DEFAULT_ENDPOINT = "default"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a circuit opens and how long it stays open (see the module doc); values from `[breaker]`."""

    threshold: float = 0.5
    min_requests: int = 4
    window_s: float = 60.0
    cooling_s: float = 30.0
    max_cooling_s: float = 300.0

    @property
    def window_ms(self) -> int:
        return max(1, round(self.window_s * 1000))

    def cooling_ms(self, openings: int) -> int:
        """The cooling period of the `openings`-th opening in a row: doubled each time, capped."""
        seconds = min(self.max_cooling_s, self.cooling_s * 2.0 ** max(0, openings - 1))
        return round(seconds * 1000)


@dataclass(frozen=True)
class CircuitView:
    """A circuit as the gauges show it. `state` is effective: an open circuit past its probe time is
    half-open; `probing` says its probe is in flight."""

    state: str
    opened_at: float | None
    probe_at: float | None
    failures: int
    requests: int
    cooling_s: float | None
    probing: bool = False


def effective_state(c: Circuit, now_ms: int) -> str:
    if c.state == OPEN and c.probe_at_ms is not None and now_ms >= c.probe_at_ms:
        return HALF_OPEN
    return c.state


def probe_in_flight(c: Circuit, now_ms: int) -> bool:
    return (
        c.state == HALF_OPEN
        and c.probe_id is not None
        and c.probe_since_ms is not None
        and now_ms < c.probe_since_ms + round(PROBE_LEASE_S * 1000)
    )


def probe_available(c: Circuit, now_ms: int) -> bool:
    """The next request admitted here would be the probe."""
    return effective_state(c, now_ms) == HALF_OPEN and not probe_in_flight(c, now_ms)


def refusal_eta_ms(c: Circuit, now_ms: int) -> int | None:
    """When a request refused by the circuit should ask again; None when the circuit lets it through."""
    if effective_state(c, now_ms) == OPEN:
        return c.probe_at_ms
    if probe_in_flight(c, now_ms):
        lease_end = (c.probe_since_ms or now_ms) + round(PROBE_LEASE_S * 1000)
        return min(lease_end, now_ms + round(PROBE_POLL_S * 1000))
    return None


def opened(c: Circuit, now_ms: int, policy: BreakerPolicy) -> Circuit:
    """Open now. A repeat (from half-open, or soon after the last close) doubles the cooling period."""
    repeat = c.state != CLOSED or (
        c.closed_at_ms is not None and now_ms - c.closed_at_ms < round(policy.max_cooling_s * 1000)
    )
    openings = c.openings + 1 if repeat and c.openings else 1
    # On a whole second, so every place that shows the probe time (truncated or rounded up) agrees.
    probe_at_ms = math.ceil((now_ms + policy.cooling_ms(openings)) / 1000) * 1000
    return replace(
        c,
        state=OPEN,
        opened_at_ms=now_ms,
        probe_at_ms=probe_at_ms,
        openings=openings,
        probe_id=None,
        probe_since_ms=None,
    )


def closed(c: Circuit, now_ms: int) -> Circuit:
    """Close after a successful probe; the openings count stays to recognise a quick repeat."""
    return replace(
        c,
        state=CLOSED,
        opened_at_ms=None,
        probe_at_ms=None,
        closed_at_ms=now_ms,
        probe_id=None,
        probe_since_ms=None,
        failures=0,
        requests=0,
    )


def after_outcome(c: Circuit, failed: bool, now_ms: int, policy: BreakerPolicy) -> Circuit:
    """The circuit after one request's outcome. For a closed circuit `c` already counts it in its window."""
    state = effective_state(c, now_ms)
    if state == CLOSED:  # only a failure opens it: a success is never the reason to stop sending
        if failed and c.requests >= policy.min_requests and c.failures >= policy.threshold * c.requests:
            return opened(c, now_ms, policy)
        return c
    if state == OPEN:
        return c  # a request sent before it opened: the cooling period stands either way
    return opened(c, now_ms, policy) if failed else closed(c, now_ms)


def claim_probe(c: Circuit, probe_id: str, now_ms: int) -> Circuit:
    """Take the half-open probe for request `probe_id` if nobody holds it (unchanged otherwise)."""
    if not probe_available(c, now_ms):
        return c
    return replace(c, state=HALF_OPEN, probe_id=probe_id, probe_since_ms=now_ms)


def view(c: Circuit, now_ms: int, policy: BreakerPolicy) -> CircuitView:
    state = effective_state(c, now_ms)
    cooling = policy.cooling_ms(c.openings) / 1000 if state != CLOSED else None
    return CircuitView(
        state=state,
        opened_at=c.opened_at_ms / 1000 if c.opened_at_ms is not None else None,
        probe_at=c.probe_at_ms / 1000 if c.probe_at_ms is not None else None,
        failures=c.failures,
        requests=c.requests,
        cooling_s=cooling,
        probing=probe_in_flight(c, now_ms),
    )


def probe_time(c: Circuit) -> float:
    """The probe instant, epoch seconds (a whole second: see `opened`)."""
    return (c.probe_at_ms or 0) / 1000


def refusal_reason(model: str, c: Circuit, now_ms: int) -> str:
    """Why the circuit refuses a request now: `… circuit open — probing at 12:03:30 (…)`."""
    if effective_state(c, now_ms) == OPEN and c.probe_at_ms is not None:
        return f"{model} circuit open — probing at {clock_time(probe_time(c), now_ms / 1000)} (the server kept failing)"
    return f"{model} circuit half-open — probing (one request is testing whether the server recovered)"
