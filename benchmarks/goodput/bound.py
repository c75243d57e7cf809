"""The oracle bound N*(T): the most requests any client could have had admitted in [t0, T).

The server (the emulator) counts RPM and TPM in fixed windows aligned to whole minutes of its clock and RPD
per Pacific day; a request is admitted iff every count plus it stays within the limit. Another client's
("ghost") requests are booked even beyond a limit.

Arrivals bound it: a request is served after it arrives, so for any u <= t

    served in [t0, t] <= A(u-) + sigma(u, t)

where A(u-) counts arrivals before u and sigma(u, t) is the most requests the server admits in [u, t]:

* RPM: [u, t] meets the windows floor(u/60) .. floor(t/60) (a span s meets at most ceil(s/60) + 1 of them;
  with the windows' real positions known we count exactly). Each whole window admits at most RPM. In the
  window containing u, ghost requests booked in it before u already hold slots: RPM - ghost(window, < u).
  Later ghost requests in a window take nothing from us if we come first (ghosts book beyond the limit), so a
  whole window keeps its full RPM in the bound.
* TPM: the same windows hold at most TPM input tokens each (minus the ghost's tokens before u in the first
  one); the largest number of requests whose sizes fit that total is found by taking the smallest prompts
  that have arrived by t first — a valid upper bound, since any served set is no smaller in tokens.
* RPD: our admissions plus the ghost's requests booked before our last admission cannot exceed RPD. If
  our last admission is at t, we have at most RPD - ghost_day(<= t) — so the later we finish, the less
  the ghost left us.

    N*(T) = max over t in [t0, T) of  min( RPD - ghost_day(t),  min over u <= t of [A(u-) + sigma(u, t)] )

With no ghost this is min over u of [A(u) + sigma(T - u)] capped by RPD, the issue's formula.

`caps` lets each window have its own capacity (window index -> (RPM, TPM)): the auto strategy's bound pools
a whole model chain (Pro + Flash + Flash-Lite) into one server whose windows admit the sum of the chain's
limits, less any model out of service in that window. Pooling only relaxes (any schedule the chain admits,
the pooled server admits), so it stays an upper bound. The min over u
is taken at t0 and just before every arrival (A is constant between arrivals and sigma only shrinks as u
grows, so those are the only candidates); the max over t at every instant where a term changes (arrivals,
window starts, ghost requests) — both terms are constant in between, so the result is exact.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Ghost:
    start: float  # emulator time the ghost was set (its first request is at start + interval)
    rpm: float
    input_tokens: int

    def events(self, until: float) -> list[float]:
        interval = 60.0 / self.rpm
        n = max(0, math.floor((until - self.start) / interval + 1e-9))
        return [self.start + k * interval for k in range(1, n + 1)]


@dataclass(frozen=True)
class Bound:
    value: int
    binding: str  # human-readable: what limits it
    at_t: float  # the t (seconds after t0) achieving the max
    ghost_day: int  # ghost requests booked by then


def oracle_bound(
    arrivals: list[tuple[float, int]],
    *,
    t0: float,
    T: float,
    rpm: int,
    tpm: int,
    rpd: int,
    ghost: Ghost | None = None,
    caps: Callable[[int], tuple[int, int]] | None = None,
) -> Bound:
    """`arrivals`: (absolute emulator time, real input tokens) of every prompt; t0 on a window boundary or not.
    `caps(k)`: (RPM, TPM) of window k (starting at k*60 s) when windows differ; default (rpm, tpm) for all."""
    arrivals = sorted(arrivals)
    times = [a for a, _ in arrivals]
    ghost_times = ghost.events(T) if ghost else []
    ghost_tokens = ghost.input_tokens if ghost else 0

    def ghost_before(lo: float, hi: float) -> int:  # ghost requests booked in [lo, hi)
        return bisect.bisect_left(ghost_times, hi) - bisect.bisect_left(ghost_times, lo)

    def ghost_day(t: float) -> int:  # booked at or before t (the ghost started the same Pacific day)
        return bisect.bisect_right(ghost_times, t)

    cap_of = caps or (lambda _k: (rpm, tpm))
    k_first, k_last = int(t0 // 60), int(T // 60) + 1
    req_sum, tok_sum = [0], [0]  # prefix sums of the windows' capacities from k_first
    for k in range(k_first, k_last + 1):
        r, t = cap_of(k)
        req_sum.append(req_sum[-1] + r)
        tok_sum.append(tok_sum[-1] + t)

    def whole(lo: int, hi: int) -> tuple[int, int]:  # capacity of windows lo+1 .. hi
        return (
            req_sum[hi - k_first + 1] - req_sum[lo - k_first + 1],
            tok_sum[hi - k_first + 1] - tok_sum[lo - k_first + 1],
        )

    # u candidates: t0 and every arrival, with A(u-) and the first window's remaining room.
    us: list[tuple[float, int, int, int, int]] = []  # (u, A(u-), window of u, req room, token room)
    for u in [t0] + [a for a in times if a > t0]:
        k = int(u // 60)
        g = ghost_before(k * 60.0, u)
        k_rpm, k_tpm = cap_of(k)
        us.append((u, bisect.bisect_left(times, u), k, max(0, k_rpm - g), max(0, k_tpm - g * ghost_tokens)))

    end = T - 1e-6
    candidates = sorted(
        {
            t0,
            end,
            *(a for a in times if t0 <= a < end),
            *(k * 60.0 for k in range(int(t0 // 60) + 1, int(end // 60) + 1)),
            *(g for g in ghost_times if t0 <= g < end),
        }
    )

    best = Bound(0, "no arrivals", 0.0, 0)
    sizes: list[int] = []
    prefix: list[int] = [0]
    next_arrival = 0
    for t in candidates:
        added = False
        while next_arrival < len(arrivals) and arrivals[next_arrival][0] <= t:
            bisect.insort(sizes, arrivals[next_arrival][1])
            next_arrival += 1
            added = True
        if added:
            prefix = [0]
            for s in sizes:
                prefix.append(prefix[-1] + s)
        arrived = len(sizes)
        kt = int(t // 60)
        cap, why = arrived, "arrivals"
        for u, before, ku, req_room, tok_room in us:
            if u > t:
                break
            more_req, more_tok = whole(ku, kt)
            req = req_room + more_req
            tok = tok_room + more_tok
            by_tokens = bisect.bisect_right(prefix, tok) - 1
            sigma = min(req, by_tokens, arrived - before)
            if before + sigma < cap:
                cap = before + sigma
                limiter = "RPM" if req <= by_tokens else "TPM"
                why = f"arrivals by +{(u - t0) / 60:.1f} min then {limiter} to +{(t - t0) / 60:.1f} min"
        day_left = rpd - ghost_day(t)
        value = min(cap, day_left)
        if value > best.value:
            binding = (
                why if cap <= day_left else f"RPD {rpd} - {ghost_day(t)} ghost requests by +{(t - t0) / 60:.1f} min"
            )
            best = Bound(value, binding, t - t0, ghost_day(t))
    return best
