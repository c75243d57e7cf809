"""Gauges: used / limit / remaining / resets-at per dimension — one shape for the TUI, `--json` and tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gemtui.quota import ghost
from gemtui.quota.breaker import CircuitView
from gemtui.quota.ledger import DayUsage, ScopeSnapshot
from gemtui.quota.limits import DIMENSIONS, ModelLimits
from gemtui.quota.pacific import next_midnight_ms


@dataclass(frozen=True)
class Gauge:
    """One dimension of one model. `used` is our own usage (every process sharing the ledger);
    `invisible` is usage we inferred other clients hold (nominal minus lowered limit)."""

    used: int
    limit: int | None  # effective limit; None = unlimited
    remaining: int | None  # None when unlimited
    resets_at: float | None  # epoch: next instant `used` falls (oldest row leaves the window / midnight)
    blocked_until: float | None
    source: str  # "table" | "config" | "learned" | "default"
    invisible: int = 0
    team: int = 0  # of `used`, booked by other machines sharing a team ledger


def compute(snap: ScopeSnapshot, nominal: ModelLimits, effective: ModelLimits, window_ms: int) -> dict[str, Gauge]:
    now_ms = snap.now_ms
    rows = [r for r in snap.window_rows if r.ts_ms + window_ms > now_ms]
    amounts = {
        "rpm": [(r.ts_ms, 1) for r in rows],
        "tpm": [(r.ts_ms, r.tokens) for r in rows if r.tokens],
        "ipm": [(r.ts_ms, r.images) for r in rows if r.images],
    }
    out: dict[str, Gauge] = {}
    for dim in DIMENSIONS:
        limit = effective.get(dim)
        if dim == "rpd":
            used = snap.day_count
            team = min(used, snap.day_team)
            resets = next_midnight_ms(now_ms) / 1000 if used else None
            blocked = max((snap.blocks.get(d, 0) for d in ("rpd", "tpd")), default=0)
        else:
            used = sum(a for _, a in amounts[dim])
            team = sum(1 if dim == "rpm" else (r.tokens if dim == "tpm" else r.images) for r in rows if not r.mine)
            resets = (min(ts for ts, _ in amounts[dim]) + window_ms) / 1000 if amounts[dim] else None
            blocked = snap.blocks.get(dim, 0)
        out[dim] = Gauge(
            used=used,
            limit=limit,
            remaining=None if limit is None else max(0, limit - used),
            resets_at=resets,
            blocked_until=blocked / 1000 if blocked > now_ms else None,
            source=effective.source.get(dim, "table"),
            invisible=ghost.invisible(nominal.get(dim), limit),
            team=team,
        )
    return out


def iso(epoch: float | None) -> str | None:
    """ISO-8601 in UTC, whole seconds rounded up (a "resets at" shown early would be a lie)."""
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(math.ceil(epoch), UTC).isoformat()


def gauge_json(gauge: Gauge) -> dict[str, Any]:
    return {
        "used": gauge.used,
        "limit": gauge.limit,
        "remaining": gauge.remaining,
        "resets_at": iso(gauge.resets_at),
        "blocked_until": iso(gauge.blocked_until),
        "source": gauge.source,
        "team": gauge.team,
    }


def circuit_json(circuit: CircuitView) -> dict[str, Any]:
    """A model's circuit breaker: state (closed / open / half_open), when it opened, when it probes,
    and the failures among the requests in its window."""
    return {
        "state": circuit.state,
        "opened_at": iso(circuit.opened_at),
        "probe_at": iso(circuit.probe_at),
        "probing": circuit.probing,
        "failures": circuit.failures,
        "requests": circuit.requests,
        "cooling_s": circuit.cooling_s,
    }


def history_json(days: list[DayUsage]) -> dict[str, Any]:
    """Per-day usage (Pacific dates, oldest first) and its totals over the period."""
    return {
        "days": [
            {"day": d.day.isoformat(), "requests": d.requests, "input_tokens": d.tokens, "images": d.images}
            for d in days
        ],
        "totals": {
            "requests": sum(d.requests for d in days),
            "input_tokens": sum(d.tokens for d in days),
            "images": sum(d.images for d in days),
        },
    }
