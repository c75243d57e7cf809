"""Exact admission: may this request go now, and if not, the earliest instant it may.

Per-minute dimensions (RPM, TPM input tokens, IPM images) use a rolling window of `window_ms`: a row at
`ts` counts at instant `t` iff `t - window_ms < ts`, i.e. it leaves the window exactly at `ts + window_ms`.
RPD counts rows since the current Pacific midnight. With no new admissions usage only falls, blocks only
end and lowered limits only climb, so each dimension's "has room" is monotone in time; the ETA is therefore
the max over dimensions of each one's earliest instant with room — exact, not an estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemtui.quota import ghost
from gemtui.quota.ledger import Adjustment, ScopeSnapshot
from gemtui.quota.limits import ModelLimits
from gemtui.quota.pacific import next_midnight_ms

PER_MINUTE = ("rpm", "tpm", "ipm")
PER_DAY = ("rpd", "tpd")
NEVER = math.inf


@dataclass(frozen=True)
class RequestCost:
    """What one request spends: input tokens (TPM) and images generated (IPM); it always costs 1 request."""

    input_tokens: int = 0
    images: int = 0


@dataclass(frozen=True)
class Admission:
    """The engine's answer. `eta` is epoch seconds (== now when granted; math.inf when it can never fit)."""

    granted: bool
    reservation_id: str | None
    eta: float
    wait_s: float
    dimension: str | None  # "rpm" | "tpm" | "rpd" | "ipm" | "blocked" (server-imposed wait); None if granted
    impossible: bool  # never fits, or not before the next Pacific midnight
    reason: str
    model: str = ""


@dataclass(frozen=True)
class Decision:
    """Admission before any reservation is made; eta_ms is None when the request can never fit."""

    ok: bool
    eta_ms: int | None
    dimension: str | None
    impossible: bool
    reason: str


def clock_time(epoch: float, now: float | None = None) -> str:
    """Local wall-clock time of an instant, with the date when it is not within the next 20 hours."""
    if not math.isfinite(epoch):
        return "never"
    now = time.time() if now is None else now
    fmt = "%H:%M:%S" if abs(epoch - now) < 20 * 3600 else "%a %d %b %H:%M"
    return time.strftime(fmt, time.localtime(epoch))


def earliest_room(
    now_ms: int,
    window_ms: int,
    rows: Sequence[tuple[int, int]],
    cost: int,
    limit_at: Callable[[int], int | None],
    changes: Sequence[int],
) -> int | None:
    """First instant >= now when window usage + cost fits the (time-dependent) limit; None if never.

    `rows` are (ts_ms, amount) oldest first. Candidates are now, each row's expiry and each limit change:
    between candidates neither usage nor limit moves, so checking them in order is exact.
    """
    live = [(ts, amount) for ts, amount in rows if ts + window_ms > now_ms and amount]
    live.sort()
    usage = sum(amount for _, amount in live)
    candidates = sorted({now_ms, *(ts + window_ms for ts, _ in live), *(c for c in changes if c > now_ms)})
    i = 0
    for t in candidates:
        while i < len(live) and live[i][0] + window_ms <= t:
            usage -= live[i][1]
            i += 1
        limit = limit_at(t)
        if limit is None or usage + cost <= limit:
            return t
    return None


def _fmt(n: int | None) -> str:
    return "unlimited" if n is None else f"{n:,}"


Wait = tuple[int, str, bool, str]  # (eta_ms, dimension or "blocked", impossible, reason)


def decide(
    model: str, cost: RequestCost, snap: ScopeSnapshot, nominal: ModelLimits, window_ms: int, now: float
) -> Decision:
    """Admit or not, and when: the max over dimensions of each one's earliest room (see module doc)."""
    now_ms = snap.now_ms
    tokens, images = max(0, cost.input_tokens), max(0, cost.images)
    never = _never_fits(model, nominal, tokens, images)
    if never is not None:
        return never
    waits = _server_blocks(model, snap, images, now)
    minute = _minute_waits(model, snap, nominal, {"rpm": 1, "tpm": tokens, "ipm": images}, window_ms, now)
    if isinstance(minute, Decision):
        return minute
    waits.extend(minute)
    rpd = ghost.lowered_limit_at("rpd", nominal.rpd, snap.adjustments.get("rpd"), now_ms, window_ms)
    if rpd is not None and snap.day_count + 1 > rpd:
        midnight_ms = next_midnight_ms(now_ms)
        waits.append(
            (
                midnight_ms,
                "rpd",
                True,
                f"{model} RPD {snap.day_count:,}/{rpd:,} — resets at Pacific midnight "
                f"({clock_time(midnight_ms / 1000, now)})",
            )
        )
    if not waits:
        return Decision(True, now_ms, None, False, f"{model}: room now")
    # Latest first; on a tie, a day-level (impossible) reason and a server block explain more.
    eta, dim, impossible, reason = max(waits, key=lambda w: (w[0], w[2], w[1] == "blocked"))
    return Decision(False, eta, dim, impossible, reason)


def _never_fits(model: str, nominal: ModelLimits, tokens: int, images: int) -> Decision | None:
    """A request no amount of waiting admits: refused before sending, naming the limit."""
    never: list[tuple[str, str]] = []
    if nominal.rpm == 0:
        never.append(("rpm", f"{model} has RPM 0 on this tier — no requests are allowed"))
    if nominal.rpd == 0:
        never.append(("rpd", f"{model} has RPD 0 on this tier — no requests are allowed"))
    if nominal.tpm is not None and tokens > nominal.tpm:
        never.append(
            (
                "tpm",
                f"{model} TPM {nominal.tpm:,} is below this request's {tokens:,} input tokens "
                "— it can never fit; shorten the context",
            )
        )
    if images and nominal.ipm is not None and images > nominal.ipm:
        if nominal.ipm == 0:
            never.append(("ipm", f"{model} IPM 0 on this tier — it cannot generate images"))
        else:
            never.append(("ipm", f"{model} IPM {nominal.ipm} is below the {images} images requested"))
    if not never:
        return None
    dim, reason = never[0]
    return Decision(False, None, dim, True, reason)


def _server_blocks(model: str, snap: ScopeSnapshot, images: int, now: float) -> list[Wait]:
    """Waits the server asked for (a 429's delay, a per-day block until Pacific midnight)."""
    waits: list[Wait] = []
    for dim, until in snap.blocks.items():
        if until <= snap.now_ms or (dim == "ipm" and not images):
            continue
        if dim in PER_DAY:
            waits.append(
                (
                    until,
                    "blocked",
                    True,
                    f"{model} is out of its daily quota ({dim.upper()}, per the server) until Pacific "
                    f"midnight ({clock_time(until / 1000, now)})",
                )
            )
        else:
            waits.append(
                (
                    until,
                    "blocked",
                    False,
                    f"{model} {dim.upper()}: the server asked to wait — room at {clock_time(until / 1000, now)}",
                )
            )
    return waits


def _minute_waits(
    model: str, snap: ScopeSnapshot, nominal: ModelLimits, amounts: dict[str, int], window_ms: int, now: float
) -> list[Wait] | Decision:
    """Each per-minute dimension's earliest room for this request, under the limit as other clients'
    usage has lowered it (ghost.py); a refusal if a dimension can never fit."""
    now_ms = snap.now_ms
    waits: list[Wait] = []
    for dim in PER_MINUTE:
        if dim == "ipm" and not amounts["ipm"]:
            continue
        limit_nominal = nominal.get(dim)
        adj = snap.adjustments.get(dim)

        def limit_at(
            t: int, dim: str = dim, limit_nominal: int | None = limit_nominal, adj: Adjustment | None = adj
        ) -> int | None:
            return ghost.lowered_limit_at(dim, limit_nominal, adj, t, window_ms)

        rows = [(r.ts_ms, 1 if dim == "rpm" else (r.tokens if dim == "tpm" else r.images)) for r in snap.window_rows]
        eta = earliest_room(
            now_ms,
            window_ms,
            rows,
            amounts[dim],
            limit_at,
            ghost.change_times(dim, limit_nominal, adj, now_ms, window_ms),
        )
        if eta is None:  # only if the final limit is below the cost, which _never_fits excludes
            return Decision(False, None, dim, True, f"{model} {dim.upper()} {_fmt(limit_nominal)} can never fit")
        if eta > now_ms:
            used = sum(amount for ts, amount in rows if ts + window_ms > now_ms)
            effective = limit_at(now_ms)
            lowered = ""
            if effective != limit_nominal:
                lowered = f" (lowered from {_fmt(limit_nominal)}: other clients use this quota)"
            need = f" + {amounts[dim]:,} needed" if dim != "rpm" else ""
            waits.append(
                (
                    eta,
                    dim,
                    False,
                    f"{model} {dim.upper()} {used:,}/{_fmt(effective)}{need}{lowered} — room at "
                    f"{clock_time(eta / 1000, now)}",
                )
            )
    return waits


def to_admission(model: str, decision: Decision, now: float, reservation_id: str | None) -> Admission:
    if decision.ok:
        return Admission(True, reservation_id, now, 0.0, None, False, decision.reason, model)
    eta = NEVER if decision.eta_ms is None else decision.eta_ms / 1000
    return Admission(
        False, None, eta, max(0.0, eta - now), decision.dimension, decision.impossible, decision.reason, model
    )
