"""The quota engine façade: admission, reconciliation, and what 429s teach — over a shared ledger.

Every decision re-reads the ledger (one transaction per call), so processes sharing the file see each
other's reservations, blocks, learned limits and tier corrections at once; nothing quota-related is cached
in memory except the bare-429 attempt counter (backoff only, by design not quota state).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemtui.quota import ghost
from gemtui.quota.admission import PER_DAY, Admission, RequestCost, clock_time, decide, to_admission
from gemtui.quota.backoff import BARE_429, TRANSIENT, Backoff, Random
from gemtui.quota.clock import Clock, SystemClock
from gemtui.quota.gauges import Gauge, compute, gauge_json
from gemtui.quota.ledger import Adjustment, Ledger, ScopeSnapshot, SqliteLedger, TierCorrection
from gemtui.quota.limits import DIMENSIONS, LimitTable, ModelLimits, normalize_tier, resolve_model
from gemtui.quota.pacific import day_start_ms, next_midnight_ms
from gemtui.quota.signals import QuotaHit


@dataclass(frozen=True)
class RetryVerdict:
    """What to do after a failure. `not_before` is epoch seconds, never sooner than the server's delay."""

    retry: bool
    not_before: float
    reason: str
    dimension: str | None = None
    model: str = ""


class QuotaEngine:
    def __init__(
        self,
        ledger: Ledger | None = None,
        *,
        clock: Clock | None = None,
        table: LimitTable | None = None,
        tier: str = "free",
        ledger_path: Path | None = None,
        window_s: float = 60.0,
        random: Random | None = None,
        bare_backoff: Backoff = BARE_429,
        transient_backoff: Backoff = TRANSIENT,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        if ledger is None:
            if ledger_path is None:
                from gemtui import paths

                ledger_path = paths.ledger_file()
            ledger = SqliteLedger(ledger_path, self.clock)
        self.ledger: Ledger = ledger
        self.table = table or LimitTable()
        self.configured_tier = normalize_tier(tier)
        self.window_s = window_s
        self.window_ms = max(1, round(window_s * 1000))
        self.random = random
        self.bare_backoff = bare_backoff
        self.transient_backoff = transient_backoff
        self._bare_attempts: dict[tuple[str, str], int] = {}
        self._last_project: str | None = None

    # -- state ---------------------------------------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        return self.ledger.warnings

    @property
    def tier(self) -> str:
        """Effective tier of the project last used (configured, corrected by 429 evidence)."""
        return self.configured_tier if self._last_project is None else self.tier_for(self._last_project)

    def tier_for(self, project: str) -> str:
        self._last_project = project
        return self._tier_from(self.ledger.get_tier(project))

    def _tier_from(self, correction: TierCorrection | None) -> str:
        # A correction only holds while the user's configured tier is the one it corrected.
        if correction is not None and correction.configured == self.configured_tier:
            return normalize_tier(correction.tier)
        return self.configured_tier

    def close(self) -> None:
        self.ledger.close()

    def _now(self) -> tuple[float, int]:
        now = self.clock.now()
        return now, round(now * 1000)

    def _snapshot(self, project: str, model: str, now_ms: int) -> ScopeSnapshot:
        self._last_project = project
        return self.ledger.snapshot(project, model, now_ms=now_ms, window_ms=self.window_ms,
                                    day_start_ms=day_start_ms(now_ms))

    def _nominal(self, model: str, snap: ScopeSnapshot) -> ModelLimits:
        """Table/config limits for the effective tier, with limits learned on that tier on top."""
        tier = self._tier_from(snap.tier)
        learned = {d: ll.value for d, ll in snap.learned.items() if ll.tier == tier and d in DIMENSIONS}
        return self.table.limits(model, tier, learned)

    def _effective(self, nominal: ModelLimits, snap: ScopeSnapshot) -> ModelLimits:
        """Nominal limits lowered where invisible usage was detected (source "learned")."""
        effective = nominal
        for dim, adj in snap.adjustments.items():
            if dim not in DIMENSIONS:
                continue
            value = ghost.lowered_limit_at(dim, nominal.get(dim), adj, snap.now_ms, self.window_ms)
            if value != nominal.get(dim):
                effective = effective.with_value(dim, value, "learned")
        return effective

    # -- admission -----------------------------------------------------------------------------------

    def check(self, project: str, model: str, cost: RequestCost | None = None) -> Admission:
        """The answer try_reserve would give now, reserving nothing."""
        model, cost = resolve_model(model), cost or RequestCost()
        now, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        return to_admission(model, decide(model, cost, snap, self._nominal(model, snap), self.window_ms, now),
                            now, None)

    def try_reserve(self, project: str, model: str, cost: RequestCost | None = None) -> Admission:
        """Atomic check-and-reserve: a granted admission holds a reservation to commit or release."""
        model, cost = resolve_model(model), cost or RequestCost()
        now, now_ms = self._now()
        self._last_project = project
        decisions = []

        def admit(snap: ScopeSnapshot) -> bool:
            decisions.append(decide(model, cost, snap, self._nominal(model, snap), self.window_ms, now))
            return decisions[-1].ok

        _, rid = self.ledger.reserve(project, model, now_ms=now_ms, window_ms=self.window_ms,
                                     day_start_ms=day_start_ms(now_ms), tokens=max(0, cost.input_tokens),
                                     images=max(0, cost.images), admit=admit)
        return to_admission(model, decisions[-1], now, rid)

    def commit(self, reservation_id: str, input_tokens: int | None = None, images: int | None = None) -> bool:
        """The request reached the server: keep it counted, with the real counts from usageMetadata."""
        return self.ledger.commit(reservation_id, input_tokens, images)

    def release(self, reservation_id: str) -> bool:
        """The request never counted (cancelled, failed before sending, 429'd): stop counting it."""
        return self.ledger.release(reservation_id) is not None

    # -- learning ------------------------------------------------------------------------------------

    def on_rate_limited(self, project: str, model: str, hit: QuotaHit, reservation_id: str | None = None,
                        *, cost: RequestCost | None = None) -> RetryVerdict:
        """Apply a classified 429 (releasing its reservation) and say when, if at all, to retry here.

        Pass the refused request's reservation id (already released is fine) or its `cost`: without either
        the engine cannot tell how many tokens/images it needed, so it does not lower TPM/IPM for it.
        """
        model = resolve_model(model)
        now, now_ms = self._now()
        row = self.ledger.release(reservation_id) if reservation_id else None
        known_cost = row is not None or cost is not None
        if row is not None:
            cost = RequestCost(row.tokens, row.images)
        cost = cost or RequestCost()

        if hit.is_bare:  # capacity or a shared pool: no evidence about any limit, so no quota change
            key = (project, model)
            attempt = self._bare_attempts.get(key, 0) + 1
            self._bare_attempts[key] = attempt
            if self.bare_backoff.exhausted(attempt):
                return RetryVerdict(False, now, f"{model}: refused {attempt} times without quota details "
                                    "(server capacity) — giving up on this model for now", None, model)
            delay = self.bare_backoff.delay(attempt, self.random)
            if hit.retry_delay_s is not None:
                delay = max(delay, hit.retry_delay_s)
            return RetryVerdict(True, now + delay, f"{model}: refused without quota details "
                                f"(server capacity) — backing off {delay:.1f}s, quota unchanged", None, model)

        notes: list[str] = []
        snap = self._snapshot(project, model, now_ms)
        tier = self._tier_from(snap.tier)
        if tier != "free" and any(v.free_tier for v in hit.violations):
            self.ledger.set_tier(project, TierCorrection("free", self.configured_tier), now_ms)
            notes.append(f"the server applies free-tier limits (configured {tier}): using free-tier limits")
            tier = "free"
            snap = self._snapshot(project, model, now_ms)

        nominal = self._nominal(model, snap)
        learned_any = False
        for v in hit.violations:
            if v.dimension in DIMENSIONS and v.limit is not None and v.limit != nominal.get(v.dimension):
                self.ledger.set_learned(project, model, v.dimension, v.limit, tier, now_ms)
                notes.append(f"learned {v.dimension.upper()} {v.limit:,} (was {nominal.get(v.dimension)})")
                learned_any = True
        if learned_any:
            snap = self._snapshot(project, model, now_ms)
            nominal = self._nominal(model, snap)

        delay = hit.retry_delay_s if hit.retry_delay_s and hit.retry_delay_s > 0 else None
        per_day = [v for v in hit.violations if v.dimension in PER_DAY]
        per_minute = [v for v in hit.violations if v.dimension not in PER_DAY]
        midnight_ms = next_midnight_ms(now_ms)
        amounts = {"rpm": 1, "tpm": cost.input_tokens, "ipm": cost.images}
        for v in per_day:
            self.ledger.set_block(project, model, v.dimension, midnight_ms)
            rpd = ghost.lowered_limit_at("rpd", nominal.rpd, snap.adjustments.get("rpd"), now_ms,
                                         self.window_ms)
            if v.dimension == "rpd" and rpd is not None and snap.day_count + 1 <= rpd:
                self.ledger.set_adjustment(project, model, "rpd", Adjustment(snap.day_count, now_ms))
                notes.append(f"{rpd - snap.day_count:,} requests today came from other clients")
        delay_ms = math.ceil(delay * 1000) if delay is not None else None
        # The server's window ends when its delay does; it began one window earlier. Our rows before that
        # are no longer in the server's count, so they say nothing about what the other clients hold.
        server_start_ms = now_ms - self.window_ms
        if delay_ms is not None and delay_ms < self.window_ms:
            server_start_ms = now_ms + delay_ms - self.window_ms
        for v in per_minute:
            dim = v.dimension
            rows = [r for r in snap.window_rows if r.ts_ms + self.window_ms > now_ms]
            used = sum(1 if dim == "rpm" else (r.tokens if dim == "tpm" else r.images) for r in rows)
            limit = ghost.lowered_limit_at(dim, nominal.get(dim), snap.adjustments.get(dim), now_ms,
                                           self.window_ms)
            fits = limit is not None and used + amounts[dim] <= limit
            invisible_hit = fits and (known_cost or dim == "rpm")
            if invisible_hit:
                # We would have admitted it: someone else spends this quota. Our share is what the server
                # had of ours in its window (at least this one request, so it can still go alone); the
                # limit holds there, then climbs back after clean windows (ghost.py).
                ours = sum(1 if dim == "rpm" else (r.tokens if dim == "tpm" else r.images)
                           for r in rows if r.ts_ms >= server_start_ms)
                lowered = max(ours, amounts[dim], 1)
                strikes = ghost.next_strike(snap.adjustments.get(dim))
                self.ledger.set_adjustment(project, model, dim, Adjustment(lowered, now_ms, strikes))
                notes.append(f"invisible usage: {dim.upper()} lowered to {lowered:,} of {limit:,} "
                             "(other clients use this quota), recovering after clean minutes")
            if delay_ms is not None:
                self.ledger.set_block(project, model, dim, now_ms + delay_ms)
            elif invisible_hit:
                # No delay given: wait until the window that refused us has fully turned over.
                self.ledger.set_block(project, model, dim, now_ms + self.window_ms)
        extra = f" ({'; '.join(notes)})" if notes else ""

        if per_day:
            dim = per_day[0].dimension
            return RetryVerdict(False, midnight_ms / 1000,
                                f"{model} daily quota ({dim.upper()}) exhausted — blocked until Pacific "
                                f"midnight ({clock_time(midnight_ms / 1000, now)}){extra}", dim, model)

        self._bare_attempts.pop((project, model), None)
        after = self.check(project, model, cost)
        dim = per_minute[0].dimension if per_minute else None
        not_before = max(now + (delay or 0.0), after.eta)
        if after.impossible:
            return RetryVerdict(False, not_before, after.reason + extra, after.dimension or dim, model)
        return RetryVerdict(True, not_before, f"{model} {(dim or 'quota').upper()} limit reached — retry at "
                            f"{clock_time(not_before, now)}{extra}", dim, model)

    def on_transient_failure(self, project: str, model: str, attempt: int) -> RetryVerdict:
        """5xx / overloaded / transport: bounded backoff with full jitter; no quota change."""
        model = resolve_model(model)
        now, _ = self._now()
        if self.transient_backoff.exhausted(attempt):
            return RetryVerdict(False, now, f"{model}: failed {attempt} times (server error or network) — "
                                "giving up", None, model)
        delay = self.transient_backoff.delay(attempt, self.random)
        return RetryVerdict(True, now + delay, f"{model}: server error or network failure — "
                            f"retry {attempt + 1} in {delay:.1f}s", None, model)

    def on_success(self, project: str, model: str) -> None:
        """A request went through: reset bare-429 backoff; forget lowerings that climbed back long ago."""
        model = resolve_model(model)
        self._bare_attempts.pop((project, model), None)
        _, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        nominal = self._nominal(model, snap)
        for dim, adj in snap.adjustments.items():
            done = dim not in DIMENSIONS or ghost.is_forgotten(dim, nominal.get(dim), adj, now_ms,
                                                                self.window_ms)
            if done:
                self.ledger.clear_adjustment(project, model, dim)

    # -- reporting -----------------------------------------------------------------------------------

    def limits(self, project: str, model: str) -> ModelLimits:
        """Effective limits now (learned > config > table > default; lowered by invisible usage)."""
        model = resolve_model(model)
        _, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        return self._effective(self._nominal(model, snap), snap)

    def gauges(self, project: str, models: Iterable[str]) -> dict[str, dict[str, Gauge]]:
        _, now_ms = self._now()
        out: dict[str, dict[str, Gauge]] = {}
        for name in models:
            model = resolve_model(name)
            snap = self._snapshot(project, model, now_ms)
            nominal = self._nominal(model, snap)
            out[model] = compute(snap, nominal, self._effective(nominal, snap), self.window_ms)
        return out

    def usage_today(self, project: str, model: str, buckets: int = 24) -> list[tuple[int, int]]:
        """Requests and input tokens in each of `buckets` equal slices of the current Pacific day so far
        (a 23- or 25-hour day is sliced the same way): the `/quota` sparkline."""
        now, now_ms = self._now()
        start_ms = day_start_ms(now_ms)
        end_ms = next_midnight_ms(now_ms)
        width = max(1, (end_ms - start_ms) // buckets)
        series = [(0, 0)] * buckets
        for row in self.ledger.usage_between(project, resolve_model(model), start_ms, now_ms + 1):
            slot = min(buckets - 1, (row.ts_ms - start_ms) // width)
            requests, tokens = series[slot]
            series[slot] = (requests + 1, tokens + row.tokens)
        return series

    def gauges_json(self, profile: str, project: str, models: Iterable[str]) -> dict[str, Any]:
        gauges = self.gauges(project, models)
        return {
            "profile": profile,
            "tier": self.tier_for(project),
            "models": {m: {dim: gauge_json(g) for dim, g in dims.items()} for m, dims in gauges.items()},
        }
