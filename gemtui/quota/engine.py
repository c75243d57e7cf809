"""The quota engine façade: admission, reconciliation, and what 429s teach — over a shared ledger.

Every decision re-reads the ledger (one transaction per call), so processes sharing the file see each
other's reservations, blocks, learned limits and tier corrections at once; nothing quota-related is cached
in memory except the bare-429 attempt counter (backoff only, by design not quota state).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from gemtui.quota import breaker, ghost
from gemtui.quota.admission import PER_DAY, Admission, RequestCost, clock_time, decide, to_admission
from gemtui.quota.backoff import BARE_429, TRANSIENT, Backoff, Random
from gemtui.quota.breaker import DEFAULT_ENDPOINT, BreakerPolicy, CircuitView
from gemtui.quota.clock import Clock, SystemClock
from gemtui.quota.forecast import Lane
from gemtui.quota.gauges import Gauge, circuit_json, compute, gauge_json, history_json
from gemtui.quota.headers import HEADER_SOURCE, MARK, NOT_STATED, HeaderFacts, spent
from gemtui.quota.ledger import (
    DEFAULT_HISTORY_DAYS,
    OPEN,
    Adjustment,
    Circuit,
    DayUsage,
    Ledger,
    ScopeSnapshot,
    SqliteLedger,
    TierCorrection,
)
from gemtui.quota.limits import DIMENSIONS, UNKNOWN, LimitTable, ModelLimits, normalize_tier, resolve_model
from gemtui.quota.pacific import day_start_ms, next_midnight_ms, pacific_day
from gemtui.quota.signals import QuotaHit, Violation


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
        history_days: int = DEFAULT_HISTORY_DAYS,
        endpoint: str = DEFAULT_ENDPOINT,
        breaker_policy: BreakerPolicy | None = None,
    ) -> None:
        """`endpoint` names the path to the server for the circuit breaker (quota is per project,
        health per endpoint and model); it is stored, so it must not carry a secret."""
        self.clock: Clock = clock or SystemClock()
        self.history_days = max(1, int(history_days))
        if ledger is None:
            if ledger_path is None:
                from gemtui import paths

                ledger_path = paths.ledger_file()
            ledger = SqliteLedger(ledger_path, self.clock, history_days=self.history_days)
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
        self.endpoint = endpoint or DEFAULT_ENDPOINT
        self.breaker_policy = breaker_policy or BreakerPolicy()

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
        return self.ledger.snapshot(
            project, model, now_ms=now_ms, window_ms=self.window_ms, day_start_ms=day_start_ms(now_ms)
        )

    def _nominal(self, model: str, snap: ScopeSnapshot) -> ModelLimits:
        """Table/config limits for the effective tier, with limits learned on that tier on top."""
        tier = self._tier_from(snap.tier)
        learned = {d: ll.value for d, ll in snap.learned.items() if ll.tier == tier and d in DIMENSIONS}
        limits = self.table.limits(model, tier, learned)
        spoken = [dim for dim in DIMENSIONS if MARK + dim in snap.learned and dim in learned]
        for dim in DIMENSIONS:  # learned from rate-limit headers: say so; what headers never state is n/a
            if dim in spoken:
                limits = limits.with_value(dim, limits.get(dim), HEADER_SOURCE)
            elif spoken and limits.source.get(dim) == UNKNOWN:
                limits = limits.with_value(dim, None, NOT_STATED)
        return limits

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
        """The answer try_reserve would give now, reserving nothing (an open circuit refuses too)."""
        model, cost = resolve_model(model), cost or RequestCost()
        now, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        quota = to_admission(
            model, decide(model, cost, snap, self._nominal(model, snap), self.window_ms, now), now, None
        )
        return self._circuit_refusal(model, self._circuit(model, now_ms), now, now_ms, quota) or quota

    def try_reserve(self, project: str, model: str, cost: RequestCost | None = None) -> Admission:
        """Atomic check-and-reserve: a granted admission holds a reservation to commit or release.

        Where the model's circuit is half-open, the first request granted holds the probe.
        """
        model, cost = resolve_model(model), cost or RequestCost()
        now, now_ms = self._now()
        circuit = self._circuit(model, now_ms)
        if breaker.refusal_eta_ms(circuit, now_ms) is not None:
            return self.check(project, model, cost)
        granted = self._reserve(project, model, cost, now, now_ms)
        if granted.granted and breaker.probe_available(circuit, now_ms):
            rid = granted.reservation_id or ""
            claimed = self.ledger.update_circuit(
                self.endpoint,
                model,
                now_ms=now_ms,
                window_ms=self.breaker_policy.window_ms,
                failed=None,
                step=lambda c: breaker.claim_probe(c, rid, now_ms),
            )
            refused = None if claimed.probe_id == rid else self._circuit_refusal(model, claimed, now, now_ms, None)
            if refused is not None:  # another process took the probe first
                self.ledger.release(rid)
                return refused
        return granted

    def _reserve(self, project: str, model: str, cost: RequestCost, now: float, now_ms: int) -> Admission:
        self._last_project = project
        decisions = []

        def admit(snap: ScopeSnapshot) -> bool:
            decisions.append(decide(model, cost, snap, self._nominal(model, snap), self.window_ms, now))
            return decisions[-1].ok

        def limits(snap: ScopeSnapshot) -> dict[str, int | None]:
            effective = self._effective(self._nominal(model, snap), snap)
            return {dim: effective.get(dim) for dim in DIMENSIONS}

        _, rid = self.ledger.reserve(
            project,
            model,
            now_ms=now_ms,
            window_ms=self.window_ms,
            day_start_ms=day_start_ms(now_ms),
            tokens=max(0, cost.input_tokens),
            images=max(0, cost.images),
            admit=admit,
            limits=limits,
        )
        return to_admission(model, decisions[-1], now, rid)

    def blocked_until(self, project: str, model: str, cost: RequestCost | None = None) -> float | None:
        """When the server's latest block on `model` ends (epoch s), or None: a reservation made before a
        block was booked is stale, and should be released and routed again rather than sent."""
        cost = cost or RequestCost()
        _, now_ms = self._now()
        blocks = self._snapshot(project, resolve_model(model), now_ms).blocks
        ends = [until for dim, until in blocks.items() if until > now_ms and (dim != "ipm" or cost.images)]
        return max(ends) / 1000 if ends else None

    def commit(self, reservation_id: str, input_tokens: int | None = None, images: int | None = None) -> bool:
        """The request reached the server: keep it counted, with the real counts from usageMetadata."""
        return self.ledger.commit(reservation_id, input_tokens, images)

    def release(self, reservation_id: str) -> bool:
        """The request never counted (cancelled, failed before sending, 429'd): stop counting it."""
        return self.ledger.release(reservation_id) is not None

    # -- learning ------------------------------------------------------------------------------------

    def on_rate_limited(
        self,
        project: str,
        model: str,
        hit: QuotaHit,
        reservation_id: str | None = None,
        *,
        cost: RequestCost | None = None,
    ) -> RetryVerdict:
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
        if hit.is_bare:
            return self._on_bare_refusal(project, model, hit, now, now_ms)

        notes: list[str] = []
        snap, tier = self._correct_tier(project, model, hit, now_ms, notes)
        snap, nominal = self._learn_limits(project, model, hit, snap, tier, now_ms, notes)
        delay = hit.retry_delay_s if hit.retry_delay_s and hit.retry_delay_s > 0 else None
        per_day = [v for v in hit.violations if v.dimension in PER_DAY]
        per_minute = [v for v in hit.violations if v.dimension not in PER_DAY]
        midnight_ms = next_midnight_ms(now_ms)
        self._block_per_day(project, model, per_day, snap, nominal, midnight_ms, now_ms, notes)
        self._block_per_minute(project, model, per_minute, snap, nominal, cost, known_cost, delay, now_ms, notes)
        extra = f" ({'; '.join(notes)})" if notes else ""

        if per_day:
            dim = per_day[0].dimension
            return RetryVerdict(
                False,
                midnight_ms / 1000,
                f"{model} daily quota ({dim.upper()}) exhausted — blocked until Pacific "
                f"midnight ({clock_time(midnight_ms / 1000, now)}){extra}",
                dim,
                model,
            )

        self._bare_attempts.pop((project, model), None)
        after = self.check(project, model, cost)
        refused = per_minute[0].dimension if per_minute else None
        not_before = max(now + (delay or 0.0), after.eta)
        if after.impossible:
            return RetryVerdict(False, not_before, after.reason + extra, after.dimension or refused, model)
        return RetryVerdict(
            True,
            not_before,
            f"{model} {(refused or 'quota').upper()} limit reached — retry at {clock_time(not_before, now)}{extra}",
            refused,
            model,
        )

    def _on_bare_refusal(self, project: str, model: str, hit: QuotaHit, now: float, now_ms: int) -> RetryVerdict:
        """A 429 without quota details: capacity or a shared pool, no evidence about any limit, so no quota
        change; bounded backoff here, or on to the next model once the breaker opens or attempts run out."""
        key = (project, model)
        attempt = self._bare_attempts.get(key, 0) + 1
        self._bare_attempts[key] = attempt
        opened = self._circuit_note(self._record_outcome(model, True, now_ms), now_ms)
        if self.bare_backoff.exhausted(attempt):
            return RetryVerdict(
                False,
                now,
                f"{model}: refused {attempt} times without quota details "
                f"(server capacity) — giving up on this model for now{opened}",
                None,
                model,
            )
        if opened:
            return self._route_again(model, "refused without quota details (server capacity)", opened, now)
        backoff_s = self.bare_backoff.delay(attempt, self.random)
        if hit.retry_delay_s is not None:
            backoff_s = max(backoff_s, hit.retry_delay_s)
        return RetryVerdict(
            True,
            now + backoff_s,
            f"{model}: refused without quota details "
            f"(server capacity) — backing off {backoff_s:.1f}s, quota unchanged{opened}",
            None,
            model,
        )

    def _correct_tier(
        self, project: str, model: str, hit: QuotaHit, now_ms: int, notes: list[str]
    ) -> tuple[ScopeSnapshot, str]:
        """A free-tier quota id on a project configured above free: the server's word wins."""
        snap = self._snapshot(project, model, now_ms)
        tier = self._tier_from(snap.tier)
        if tier != "free" and any(v.free_tier for v in hit.violations):
            self.ledger.set_tier(project, TierCorrection("free", self.configured_tier), now_ms)
            notes.append(f"the server applies free-tier limits (configured {tier}): using free-tier limits")
            tier = "free"
            snap = self._snapshot(project, model, now_ms)
        return snap, tier

    def _learn_limits(
        self, project: str, model: str, hit: QuotaHit, snap: ScopeSnapshot, tier: str, now_ms: int, notes: list[str]
    ) -> tuple[ScopeSnapshot, ModelLimits]:
        """Every `quotaValue` that differs from what we assumed becomes the learned limit."""
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
        return snap, nominal

    def _block_per_day(
        self,
        project: str,
        model: str,
        per_day: list[Violation],
        snap: ScopeSnapshot,
        nominal: ModelLimits,
        midnight_ms: int,
        now_ms: int,
        notes: list[str],
    ) -> None:
        """A per-day refusal blocks until Pacific midnight; one that came early says how much of the
        day other clients spent."""
        for v in per_day:
            self.ledger.set_block(project, model, v.dimension, midnight_ms)
            rpd = ghost.lowered_limit_at("rpd", nominal.rpd, snap.adjustments.get("rpd"), now_ms, self.window_ms)
            if v.dimension == "rpd" and rpd is not None and snap.day_count + 1 <= rpd:
                self.ledger.set_adjustment(project, model, "rpd", Adjustment(snap.day_count, now_ms))
                notes.append(f"{rpd - snap.day_count:,} requests today came from other clients")

    def _block_per_minute(
        self,
        project: str,
        model: str,
        per_minute: list[Violation],
        snap: ScopeSnapshot,
        nominal: ModelLimits,
        cost: RequestCost,
        known_cost: bool,
        delay: float | None,
        now_ms: int,
        notes: list[str],
    ) -> None:
        """Block each refused per-minute dimension for the server's delay; where we would have admitted
        the request, someone else spends this quota: lower our limit to our share (ghost.py)."""
        amounts = {"rpm": 1, "tpm": cost.input_tokens, "ipm": cost.images}
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
            limit = ghost.lowered_limit_at(dim, nominal.get(dim), snap.adjustments.get(dim), now_ms, self.window_ms)
            fits = limit is not None and used + amounts[dim] <= limit
            invisible_hit = fits and (known_cost or dim == "rpm")
            if invisible_hit:
                # Our share is what the server had of ours in its window (at least this one request, so it
                # can still go alone); the limit holds there, then climbs back after clean windows.
                ours = sum(
                    1 if dim == "rpm" else (r.tokens if dim == "tpm" else r.images)
                    for r in rows
                    if r.ts_ms >= server_start_ms
                )
                lowered = max(ours, amounts[dim], 1)
                strikes = ghost.next_strike(snap.adjustments.get(dim))
                self.ledger.set_adjustment(project, model, dim, Adjustment(lowered, now_ms, strikes))
                notes.append(
                    f"invisible usage: {dim.upper()} lowered to {lowered:,} of {limit:,} "
                    "(other clients use this quota), recovering after clean minutes"
                )
            if delay_ms is not None:
                self.ledger.set_block(project, model, dim, now_ms + delay_ms)
            elif invisible_hit:
                # No delay given: wait until the window that refused us has fully turned over.
                self.ledger.set_block(project, model, dim, now_ms + self.window_ms)

    def on_rate_headers(self, project: str, model: str, facts: HeaderFacts, last_cost: int = 0) -> None:
        """What the server's `x-ratelimit-*` headers said after a request: its limits are learned (source
        "server headers"), and a window with no room for another such request is blocked until its reset."""
        model = resolve_model(model)
        now, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        tier = self._tier_from(snap.tier)
        for dim, value in facts.limits.items():
            if dim not in DIMENSIONS:
                continue
            known = snap.learned.get(dim)
            if known is None or known.value != value or known.tier != tier or MARK + dim not in snap.learned:
                self.ledger.set_learned(project, model, dim, value, tier, now_ms)
                self.ledger.set_learned(project, model, MARK + dim, 1, tier, now_ms)
        for dim in facts.remaining:
            if dim in DIMENSIONS and spent(facts, dim, last_cost if dim == "tpm" else 1):
                reset_s = facts.reset_s.get(dim, self.window_s)
                # rounded up: a block that ends a hair before the server's window does meets its 429
                self.ledger.set_block(project, model, dim, math.ceil(now * 1000) + math.ceil(reset_s * 1000))

    def on_transient_failure(self, project: str, model: str, attempt: int) -> RetryVerdict:
        """5xx / overloaded / timeout / bare 429: bounded backoff with full jitter; no quota change.
        The failure counts against the model's circuit (which may open: then routing skips the model)."""
        model = resolve_model(model)
        now, now_ms = self._now()
        opened = self._circuit_note(self._record_outcome(model, True, now_ms), now_ms)
        if self.transient_backoff.exhausted(attempt):
            return RetryVerdict(
                False,
                now,
                f"{model}: failed {attempt} times (server error or network) — giving up{opened}",
                None,
                model,
            )
        if opened:
            return self._route_again(model, "server error or network failure", opened, now)
        delay = self.transient_backoff.delay(attempt, self.random)
        return RetryVerdict(
            True,
            now + delay,
            f"{model}: server error or network failure — retry {attempt + 1} in {delay:.1f}s{opened}",
            None,
            model,
        )

    def on_stream_cut(self, project: str, model: str) -> None:
        """An answer broke after text had arrived: not retried (the partial answer is kept), but it
        counts against the model's circuit like any other server failure."""
        self._record_outcome(resolve_model(model), True, self._now()[1])

    def on_success(self, project: str, model: str) -> None:
        """A request went through: reset bare-429 backoff; forget lowerings that climbed back long ago;
        count a success in the model's circuit (a successful probe closes it)."""
        model = resolve_model(model)
        self._bare_attempts.pop((project, model), None)
        _, now_ms = self._now()
        self._record_outcome(model, False, now_ms)
        snap = self._snapshot(project, model, now_ms)
        nominal = self._nominal(model, snap)
        for dim, adj in snap.adjustments.items():
            done = dim not in DIMENSIONS or ghost.is_forgotten(dim, nominal.get(dim), adj, now_ms, self.window_ms)
            if done:
                self.ledger.clear_adjustment(project, model, dim)

    # -- circuit breaker -----------------------------------------------------------------------------

    def _circuit(self, model: str, now_ms: int) -> Circuit:
        return self.ledger.circuit(self.endpoint, model, now_ms=now_ms, window_ms=self.breaker_policy.window_ms)

    def _record_outcome(self, model: str, failed: bool, now_ms: int) -> Circuit:
        policy = self.breaker_policy
        return self.ledger.update_circuit(
            self.endpoint,
            model,
            now_ms=now_ms,
            window_ms=policy.window_ms,
            failed=failed,
            step=lambda c: breaker.after_outcome(c, failed, now_ms, policy),
        )

    def _circuit_refusal(
        self, model: str, circuit: Circuit, now: float, now_ms: int, quota: Admission | None
    ) -> Admission | None:
        """The refusal an open (or probing) circuit adds to the quota's answer; None when it lets it go.
        A request the quota can never admit keeps that answer: it is the more final one."""
        eta_ms = breaker.refusal_eta_ms(circuit, now_ms)
        if eta_ms is None or (quota is not None and quota.impossible):
            return None
        eta = eta_ms / 1000
        if quota is not None and not quota.granted:
            eta = max(eta, quota.eta)
        return Admission(
            False,
            None,
            eta,
            max(0.0, eta - now),
            "circuit",
            False,
            breaker.refusal_reason(model, circuit, now_ms),
            model,
        )

    @staticmethod
    def _circuit_note(circuit: Circuit, now_ms: int) -> str:
        """`; circuit open — probing at 12:03:30` when the failure booked at `now_ms` opened the circuit."""
        if circuit.state != OPEN or circuit.opened_at_ms != now_ms or circuit.probe_at_ms is None:
            return ""
        return f"; circuit open — probing at {clock_time(breaker.probe_time(circuit), now_ms / 1000)}"

    @staticmethod
    def _route_again(model: str, what: str, opened: str, now: float) -> RetryVerdict:
        """The failure opened the circuit: no backoff here, since admission now holds the model until its
        probe time — routing again at once sends auto mode to the next model, and a forced one waits."""
        return RetryVerdict(True, now, f"{model}: {what}{opened}", None, model)

    def circuits(self, models: Iterable[str]) -> dict[str, CircuitView]:
        """Each model's circuit on this engine's endpoint, as the gauges show it."""
        _, now_ms = self._now()
        return {
            m: breaker.view(self._circuit(m, now_ms), now_ms, self.breaker_policy)
            for m in (resolve_model(name) for name in models)
        }

    # -- reporting -----------------------------------------------------------------------------------

    def limits(self, project: str, model: str) -> ModelLimits:
        """Effective limits now (learned > config > table, else unknown; lowered by invisible usage)."""
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

    def lane(self, project: str, model: str, cost: RequestCost | None = None) -> Lane:
        """The model's room now for requests costing `cost`, as a forecast lane (`forecast.py`): how
        many fit in one window (the tighter of RPM, and of TPM and IPM over the cost), the requests
        already in the window, a server block, and today's requests left."""
        model, cost = resolve_model(model), cost or RequestCost()
        _, now_ms = self._now()
        snap = self._snapshot(project, model, now_ms)
        nominal = self._nominal(model, snap)
        limits = self._effective(nominal, snap)
        per_window = limits.rpm
        for limit, amount in ((limits.tpm, cost.input_tokens), (limits.ipm, cost.images)):
            if limit is not None and amount > 0:
                per_window = limit // amount if per_window is None else min(per_window, limit // amount)
        starts = [r.ts_ms / 1000 for r in snap.window_rows if r.ts_ms + self.window_ms > now_ms]
        blocks = [until for dim, until in snap.blocks.items() if until > now_ms and (dim != "ipm" or cost.images)]
        return Lane(
            model,
            per_window,
            self.window_s,
            starts,
            not_before=max(blocks, default=now_ms) / 1000,
            day_left=None if limits.rpd is None else max(0, limits.rpd - snap.day_count),
            day_end=next_midnight_ms(now_ms) / 1000,
            day_limit=nominal.rpd,
        )

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

    def usage_history(self, project: str, model: str, days: int | None = None) -> list[DayUsage]:
        """The last `days` Pacific days (today last; default: the history kept), one entry per day,
        days without usage included as zeros: the `/quota` day sparkline and totals."""
        days = max(1, days or self.history_days)
        now, now_ms = self._now()
        first = pacific_day(now) - timedelta(days=days - 1)
        found = self.ledger.usage_by_day(project, resolve_model(model), first, now_ms)
        return [found.get(day, DayUsage(day)) for day in (first + timedelta(days=n) for n in range(days))]

    def gauges_json(self, profile: str, project: str, models: Iterable[str]) -> dict[str, Any]:
        gauges = self.gauges(project, models)
        return {
            "profile": profile,
            "tier": self.tier_for(project),
            "models": {m: {dim: gauge_json(g) for dim, g in dims.items()} for m, dims in gauges.items()},
            "history_days": self.history_days,
            "history": {m: history_json(self.usage_history(project, m)) for m in gauges},
            "circuits": {m: circuit_json(c) for m, c in self.circuits(gauges).items()},
        }
