"""The team ledger: the `Ledger` protocol on one Redis server that every machine of a project shares.

Each sqlite ledger sees only its own machine; a team on one Google Cloud project needs one count. Here
check-and-reserve is one Lua script (redis_scripts.RESERVE) that counts RPM, TPM, IPM and RPD and the
server's blocks against the effective limits and inserts the reservation only if all fit, so N machines
never over-admit together. It returns the snapshot it decided on, and the engine's exact admission
(`admit`) judges that same snapshot; the limits it carries are the ones last computed for the scope, and
are computed again whenever the script reports that learned limits, lowerings or the tier moved.

Time is the Redis server's (`TIME`): scripts stamp rows with it and `ServerClock` gives the engine the same
time scale, so a machine whose clock is off cannot double-book a window.

A reservation carries a lease: one not committed or released before it runs out (its process was killed)
turns into a sent request — the server may have counted it — and stays counted until it leaves the
windows, as in the sqlite ledger.

Keys: `gemtui:{project}:…` per project (the braces are a cluster hash tag), so one Redis serves many teams
and a project's keys live on one slot. Per model: `live` (rows that count, by time), `rows` (every row,
for pruning), `leases`, `blocks`, `learned`, `adj`, `day:YYYY-MM-DD` (requests, tokens, images and each
machine's requests of a Pacific day), versions that tell a reservation its snapshot went stale; per
project: `req` (the rows as JSON), `tier`, and the circuits of the endpoint and model.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from gemtui.quota import redis_scripts
from gemtui.quota.clock import Clock
from gemtui.quota.ledger import (
    CLOSED,
    COMMITTED,
    DEFAULT_HISTORY_DAYS,
    PRUNE_EVERY_MS,
    RELEASED,
    RESERVED,
    Adjustment,
    Circuit,
    DayUsage,
    LearnedLimit,
    Reservation,
    ScopeSnapshot,
    TierCorrection,
    UsageRow,
)
from gemtui.quota.pacific import midnight_of, next_midnight_ms, pacific_day

DEFAULT_LEASE_MS = 10 * 60 * 1000  # longer than any request may take to answer
MAX_RESERVE_ATTEMPTS = 50  # a snapshot gone stale this often in a row: refuse for now, ask again
DIMENSIONS = ("rpm", "tpm", "rpd", "ipm")
_CIRCUIT_FIELDS = ("state", "opened_at_ms", "probe_at_ms", "openings", "closed_at_ms", "probe_id", "probe_since_ms")


class ServerClock:
    """The Redis server's time on this machine: the local clock plus the offset `TIME` showed, measured
    again every `refresh_s` (a failed measurement keeps the last offset)."""

    def __init__(self, client: Any, refresh_s: float = 30.0) -> None:
        self.client = client
        self.refresh_s = refresh_s
        self.offset = 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def measure(self) -> float:
        before = time.time()
        seconds, micros = self.client.time()
        after = time.time()
        self.offset = seconds + micros / 1e6 - (before + after) / 2
        self._next = time.monotonic() + self.refresh_s
        return self.offset

    def now(self) -> float:
        if time.monotonic() >= self._next:
            with self._lock:
                if time.monotonic() >= self._next:
                    try:
                        self.measure()
                    except Exception:  # noqa: BLE001  (the ledger's own calls report an outage)
                        from gemtui.log import get_logger

                        get_logger(__name__).exception("could not read the team ledger's clock")
                        self._next = time.monotonic() + self.refresh_s
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def _pairs(flat: list[Any] | dict[str, Any]) -> dict[str, str]:
    """HGETALL as a Lua script returns it (a flat list; cjson turns an empty one into {})."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _by_time(row: UsageRow) -> int:
    return row.ts_ms


def _caps(limits: Mapping[str, int | None]) -> list[int]:
    """RPM, TPM, RPD, IPM as the script takes them (-1 = unlimited)."""
    return [-1 if limits.get(dim) is None else int(limits[dim] or 0) for dim in DIMENSIONS]


def _circuit_from(stored: dict[str, str], outcomes: list[str]) -> Circuit:
    def number(name: str) -> int | None:
        return int(stored[name]) if stored.get(name) else None

    circuit = Circuit()
    if stored:
        circuit = Circuit(
            state=stored.get("state") or CLOSED,
            opened_at_ms=number("opened_at_ms"),
            probe_at_ms=number("probe_at_ms"),
            openings=number("openings") or 0,
            closed_at_ms=number("closed_at_ms"),
            probe_id=stored.get("probe_id") or None,
            probe_since_ms=number("probe_since_ms"),
        )
    failures = sum(1 for member in outcomes if member.startswith("1:"))
    return replace(circuit, failures=failures, requests=len(outcomes))


def _rows(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class RedisLedger:
    """The ledger on a Redis server (redis-py client, `decode_responses=True`).

    `namespace` names the project whose keys hold the circuits (they are per endpoint and model, not per
    project). With `clock` None the server's time is used everywhere; a given clock (tests) is passed to
    every script instead, so a simulated hour runs through the same code.
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        owner: str,
        clock: Clock | None = None,
        lease_ms: int = DEFAULT_LEASE_MS,
        history_days: int = DEFAULT_HISTORY_DAYS,
        description: str = "",
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.owner = owner.replace("|", "/")
        self.server_time = clock is None
        self.clock: Clock = clock or ServerClock(client)
        self.lease_ms = max(1, int(lease_ms))
        self.history_days = max(1, int(history_days))
        self.description = description
        self.warnings: list[str] = []
        self._scripts = {
            name: client.register_script(getattr(redis_scripts, name))
            for name in ("SNAPSHOT", "RESERVE", "COMMIT", "RELEASE", "SET_BLOCK", "PRUNE")
        }
        self._where: dict[str, tuple[str, str]] = {}  # reservation id -> (project, model), for this process
        # Per scope: the versions of its learned limits/lowerings/tier, and the limits computed from them.
        self._limits: dict[tuple[str, str], tuple[dict[str, int], list[int]]] = {}
        self._probes: dict[str, str] = {}  # probe reservation id -> its circuit's key (probes this process holds)
        self._next_prune_ms = 0

    # -- keys ---------------------------------------------------------------------------------------

    @staticmethod
    def _project_key(project: str, name: str) -> str:
        return f"gemtui:{{{project}}}:{name}"

    def _scope_key(self, project: str, model: str, name: str) -> str:
        return self._project_key(project, f"m:{model}:{name}")

    def _day_key(self, project: str, model: str, day: date) -> str:
        return self._scope_key(project, model, f"day:{day.isoformat()}")

    def _now_arg(self, now_ms: int) -> int:
        return -1 if self.server_time else int(now_ms)

    def close(self) -> None:
        self.client.close()

    # -- reads --------------------------------------------------------------------------------------

    def _scope_keys(self, project: str, model: str, now_ms: int) -> list[str]:
        today = pacific_day(now_ms / 1000)
        scope = [
            self._scope_key(project, model, name)
            for name in ("live", "leases", "blocks", "learned", "adj", "rules", "usage", "rows")
        ]
        live, leases, blocks, learned, adj, rules, usage, rows = scope
        req, tier, tier_version, models = (
            self._project_key(project, name) for name in ("req", "tier", "tier_version", "models")
        )
        return [
            live,
            leases,
            req,
            blocks,
            learned,
            adj,
            tier,
            rules,
            tier_version,
            usage,
            self._day_key(project, model, today),
            self._day_key(project, model, today + timedelta(days=1)),
            rows,
            models,
        ]

    def _scope_args(self, now_ms: int, window_ms: int, day_start_ms: int) -> list[Any]:
        return [self._now_arg(now_ms), int(window_ms), int(day_start_ms), next_midnight_ms(now_ms), self.owner]

    @staticmethod
    def _parse(doc: dict[str, Any]) -> tuple[ScopeSnapshot, dict[str, int]]:
        """A scope document from a script: the snapshot, and the versions it was read at."""
        learned = {dim: json.loads(value) for dim, value in _pairs(doc["learned"]).items()}
        adjustments = {dim: json.loads(value) for dim, value in _pairs(doc["adjustments"]).items()}
        tier = _pairs(doc["tier"])
        now = int(doc["now"])
        snap = ScopeSnapshot(
            now_ms=now,
            window_rows=sorted(
                (
                    UsageRow(int(ts), int(tokens), int(images), bool(mine))
                    for ts, tokens, images, mine in _rows(doc["rows"])
                ),
                key=_by_time,
            ),
            day_count=int(doc["day"]),
            blocks={dim: int(until) for dim, until in _pairs(doc["blocks"]).items() if int(until) > now},
            learned={dim: LearnedLimit(v["value"], v["tier"]) for dim, v in learned.items()},
            adjustments={
                dim: Adjustment(int(v["lowered_to"]), int(v["at_ms"]), int(v["strikes"]))
                for dim, v in adjustments.items()
            },
            tier=TierCorrection(tier["tier"], tier["configured"]) if tier else None,
            day_team=int(doc["team"]),
        )
        return snap, {"rules": int(doc["rv"]), "tier": int(doc["tv"]), "usage": int(doc["uv"])}

    def _read(
        self, project: str, model: str, now_ms: int, window_ms: int, day_start_ms: int
    ) -> tuple[ScopeSnapshot, dict[str, int]]:
        raw = self._scripts["SNAPSHOT"](
            keys=self._scope_keys(project, model, now_ms), args=self._scope_args(now_ms, window_ms, day_start_ms)
        )
        return self._parse(json.loads(raw))

    def snapshot(self, project: str, model: str, *, now_ms: int, window_ms: int, day_start_ms: int) -> ScopeSnapshot:
        return self._read(project, model, now_ms, window_ms, day_start_ms)[0]

    def usage_between(self, project: str, model: str, start_ms: int, end_ms: int) -> list[UsageRow]:
        ids = self.client.zrangebyscore(self._scope_key(project, model, "live"), start_ms, f"({end_ms}")
        return sorted(
            (
                UsageRow(r["ts"], r["tokens"], r["images"], r.get("owner") == self.owner)
                for r in self._load_rows(project, ids)
                if r["state"] != RELEASED
            ),
            key=_by_time,
        )

    def usage_by_day(self, project: str, model: str, first_day: date, now_ms: int) -> dict[date, DayUsage]:
        last = pacific_day(now_ms / 1000)
        days = [first_day + timedelta(days=n) for n in range((last - first_day).days + 1)]
        pipe = self.client.pipeline(transaction=False)
        for day in days:
            pipe.hmget(self._day_key(project, model, day), "r", "t", "i")
        out: dict[date, DayUsage] = {}
        for day, (requests, tokens, images) in zip(days, pipe.execute(), strict=True):
            if requests is not None and int(requests) > 0:
                out[day] = DayUsage(day, int(requests), int(tokens or 0), int(images or 0))
        return out

    def _load_rows(self, project: str, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        raws = self.client.hmget(self._project_key(project, "req"), ids)
        return [json.loads(raw) for raw in raws if raw]

    def _locate(self, reservation_id: str) -> tuple[str, dict[str, Any]] | None:
        """The project and the stored row of a reservation (this process's first, then the namespace's)."""
        where = self._where.get(reservation_id)
        projects = [where[0]] if where else []
        if self.namespace not in projects:
            projects.append(self.namespace)
        for project in projects:
            raw = self.client.hget(self._project_key(project, "req"), reservation_id)
            if raw:
                return project, json.loads(raw)
        return None

    def get(self, reservation_id: str) -> Reservation | None:
        found = self._locate(reservation_id)
        if found is None:
            return None
        project, row = found
        state = row["state"]
        if state == RESERVED and row["lease"] <= round(self.clock.now() * 1000):
            state = COMMITTED  # its lease ran out: counted as sent
        return Reservation(reservation_id, project, row["model"], row["ts"], row["tokens"], row["images"], state)

    # -- check and reserve ---------------------------------------------------------------------------

    def reserve(
        self,
        project: str,
        model: str,
        *,
        now_ms: int,
        window_ms: int,
        day_start_ms: int,
        tokens: int,
        images: int,
        admit: Callable[[ScopeSnapshot], bool],
        limits: Callable[[ScopeSnapshot], Mapping[str, int | None]] | None = None,
    ) -> tuple[ScopeSnapshot, str | None]:
        """One script call in the usual case: the script re-counts the four limits (as `limits` last gave
        them for this scope) at the server's instant, reserves if they hold, and returns the snapshot it
        decided on; `admit` then judges that same snapshot. Where they disagree the limits are computed
        again from it and the script runs again; a refused limit never reserves.

        Without `limits`: a snapshot first, `admit` on it, then the script reserves only if nothing at all
        changed in between."""
        if limits is None:
            return self._reserve_unchanged(project, model, now_ms, window_ms, day_start_ms, tokens, images, admit)
        scope = (project, model)
        cached = self._limits.get(scope)
        for _attempt in range(MAX_RESERVE_ATTEMPTS):
            if cached is None:
                snap, versions = self._read(project, model, now_ms, window_ms, day_start_ms)
                if not admit(snap):
                    return snap, None
                cached = self._limits[scope] = (versions, _caps(limits(snap)))
            versions, caps = cached
            status, snap, seen, rid = self._try(
                project, model, now_ms, window_ms, day_start_ms, tokens, images, versions, caps
            )
            if status == "changed":  # learned limits, lowerings or the tier moved: compute them again
                cached = self._limits[scope] = (seen, _caps(limits(snap)))
                continue
            granted = admit(snap)
            if status == "ok":
                if granted:
                    return snap, rid
                self.release(rid)  # the limits let through what admission refuses (it can never fit, say)
                return snap, None
            if not granted:
                return snap, None
            # The script found no room where admission does: a lowered limit climbed back since.
            cached = self._limits[scope] = (seen, _caps(limits(snap)))
            now_ms = self._next_now(now_ms)
        return self._read(project, model, now_ms, window_ms, day_start_ms)[0], None  # a guard, never reached

    def _reserve_unchanged(
        self,
        project: str,
        model: str,
        now_ms: int,
        window_ms: int,
        day_start_ms: int,
        tokens: int,
        images: int,
        admit: Callable[[ScopeSnapshot], bool],
    ) -> tuple[ScopeSnapshot, str | None]:
        """Without limits: reserve only if nothing at all changed in the scope since `admit` saw it."""
        for _attempt in range(MAX_RESERVE_ATTEMPTS):
            snap, versions = self._read(project, model, now_ms, window_ms, day_start_ms)
            if not admit(snap):
                return snap, None
            status, _, _, rid = self._try(
                project, model, now_ms, window_ms, day_start_ms, tokens, images, versions, None
            )
            if status == "ok":
                return snap, rid
            now_ms = self._next_now(now_ms)
        return self._read(project, model, now_ms, window_ms, day_start_ms)[0], None  # a guard, never reached

    def _next_now(self, now_ms: int) -> int:
        return now_ms if self.server_time else round(self.clock.now() * 1000)

    def _try(
        self,
        project: str,
        model: str,
        now_ms: int,
        window_ms: int,
        day_start_ms: int,
        tokens: int,
        images: int,
        versions: dict[str, int],
        caps: list[int] | None,
    ) -> tuple[str, ScopeSnapshot, dict[str, int], str]:
        """Run the check-and-reserve script: (status, the snapshot it decided on, its versions, the id)."""
        rid = uuid.uuid4().hex
        limits_args: list[int | str] = list(caps) if caps is not None else ["", "", "", ""]
        usage_seen: int | str = "" if caps is not None else versions["usage"]
        raw = self._scripts["RESERVE"](
            keys=self._scope_keys(project, model, now_ms),
            args=[
                *self._scope_args(now_ms, window_ms, day_start_ms),
                rid,
                int(tokens),
                int(images),
                self.lease_ms,
                model,
                versions["rules"],
                versions["tier"],
                usage_seen,
                *limits_args,
                (self.history_days + 3) * 86_400_000,
            ],
        )
        doc = json.loads(raw)
        snap, seen = self._parse(doc)
        if doc["status"] == "ok":
            self._where[rid] = (project, model)
            self._maybe_prune(project, int(doc["ts"]))
        return str(doc["status"]), snap, seen, rid

    # -- writes -------------------------------------------------------------------------------------

    def _scope_of(self, reservation_id: str) -> tuple[str, str] | None:
        """(project, model) of a reservation: this process's own at once, others looked up in the namespace."""
        where = self._where.get(reservation_id)
        if where is not None:
            return where
        found = self._locate(reservation_id)
        return (found[0], found[1]["model"]) if found is not None else None

    def commit(self, reservation_id: str, tokens: int | None, images: int | None) -> bool:
        scope = self._scope_of(reservation_id)
        if scope is None:
            return False
        project, model = scope
        keys = [
            self._project_key(project, "req"),
            self._scope_key(project, model, "leases"),
            self._scope_key(project, model, "usage"),
        ]
        done = self._scripts["COMMIT"](
            keys=keys,
            args=[reservation_id, "" if tokens is None else int(tokens), "" if images is None else int(images)],
        )
        return bool(done)

    def release(self, reservation_id: str) -> Reservation | None:
        """Stop counting a reservation; returns it as it was, or None when unknown. One whose lease ran out
        stays counted. A half-open probe it held is handed back."""
        scope = self._scope_of(reservation_id)
        if scope is None:
            return None
        project, model = scope
        keys = [
            self._project_key(project, "req"),
            self._scope_key(project, model, "leases"),
            self._scope_key(project, model, "live"),
            self._scope_key(project, model, "usage"),
        ]
        raw = self._scripts["RELEASE"](keys=keys, args=[self._now_arg(round(self.clock.now() * 1000)), reservation_id])
        if not raw:
            return None
        before = json.loads(raw)
        self._hand_back_probe(reservation_id)
        return Reservation(
            reservation_id, project, model, before["ts"], before["tokens"], before["images"], before["state"]
        )

    def set_block(self, project: str, model: str, dimension: str, until_ms: int) -> None:
        self._scripts["SET_BLOCK"](keys=[self._scope_key(project, model, "blocks")], args=[dimension, int(until_ms)])

    def _set_rule(self, project: str, model: str, table: str, dimension: str, value: dict[str, Any] | None) -> None:
        pipe = self.client.pipeline(transaction=True)
        if value is None:
            pipe.hdel(self._scope_key(project, model, table), dimension)
        else:
            pipe.hset(self._scope_key(project, model, table), dimension, json.dumps(value))
        pipe.incr(self._scope_key(project, model, "rules"))
        pipe.execute()

    def set_learned(self, project: str, model: str, dimension: str, value: int | None, tier: str, now_ms: int) -> None:
        self._set_rule(project, model, "learned", dimension, {"value": value, "tier": tier, "at_ms": now_ms})

    def set_adjustment(self, project: str, model: str, dimension: str, adjustment: Adjustment) -> None:
        self._set_rule(
            project,
            model,
            "adj",
            dimension,
            {
                "lowered_to": int(adjustment.lowered_to),
                "at_ms": int(adjustment.at_ms),
                "strikes": int(adjustment.strikes),
            },
        )

    def clear_adjustment(self, project: str, model: str, dimension: str) -> None:
        self._set_rule(project, model, "adj", dimension, None)

    def get_tier(self, project: str) -> TierCorrection | None:
        stored = self.client.hgetall(self._project_key(project, "tier"))
        return TierCorrection(stored["tier"], stored["configured"]) if stored else None

    def set_tier(self, project: str, correction: TierCorrection | None, now_ms: int) -> None:
        key = self._project_key(project, "tier")
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        if correction is not None:
            pipe.hset(key, mapping={"tier": correction.tier, "configured": correction.configured, "updated_ms": now_ms})
        pipe.incr(self._project_key(project, "tier_version"))
        pipe.execute()

    # -- circuits -----------------------------------------------------------------------------------

    def _circuit_key(self, endpoint: str, model: str, name: str) -> str:
        return self._project_key(self.namespace, f"circuit:{endpoint}|{model}:{name}")

    def _read_circuit(self, client: Any, endpoint: str, model: str, now_ms: int, window_ms: int) -> Circuit:
        """`client` is a pipeline: buffered (one round trip) for a plain read, immediate under WATCH."""
        state = client.hgetall(self._circuit_key(endpoint, model, "state"))
        outcomes = client.zrangebyscore(
            self._circuit_key(endpoint, model, "outcomes"), f"({now_ms - window_ms}", "+inf"
        )
        if state is client or outcomes is client:  # buffered: run both now
            state, outcomes = client.execute()
        return _circuit_from(state, outcomes)

    def circuit(self, endpoint: str, model: str, *, now_ms: int, window_ms: int) -> Circuit:
        return self._read_circuit(self.client.pipeline(transaction=False), endpoint, model, now_ms, window_ms)

    def update_circuit(
        self,
        endpoint: str,
        model: str,
        *,
        now_ms: int,
        window_ms: int,
        failed: bool | None,
        step: Callable[[Circuit], Circuit],
    ) -> Circuit:
        """One optimistic transaction (WATCH on the circuit and its outcomes): `step` runs here, so a
        concurrent change makes the transaction run again on the new state."""
        state_key = self._circuit_key(endpoint, model, "state")
        outcomes_key = self._circuit_key(endpoint, model, "outcomes")
        result: list[Circuit] = []

        def attempt(pipe: Any) -> None:
            result.clear()
            before = self._read_circuit(pipe, endpoint, model, now_ms, window_ms)
            record = failed is not None and before.state == CLOSED
            if record:
                before = replace(before, failures=before.failures + int(bool(failed)), requests=before.requests + 1)
            after = step(before)
            pipe.multi()
            pipe.zremrangebyscore(outcomes_key, "-inf", now_ms - window_ms)
            if record:
                pipe.zadd(outcomes_key, {f"{int(bool(failed))}:{uuid.uuid4().hex[:12]}": now_ms})
            if after.state == CLOSED and before.state != CLOSED:
                pipe.delete(outcomes_key)
            if after != before:
                values = {name: getattr(after, name) for name in _CIRCUIT_FIELDS}
                pipe.delete(state_key)
                pipe.hset(state_key, mapping={k: "" if v is None else v for k, v in values.items()})
            result.append(after)

        self.client.transaction(attempt, state_key, outcomes_key)
        if result[-1].probe_id:
            self._probes[result[-1].probe_id] = state_key
        return result[-1]

    def _hand_back_probe(self, reservation_id: str) -> None:
        """A released probe brought no evidence about its circuit: the next request may probe. (Only the
        process that claimed a probe releases it, so it knows which circuit to look at.)"""
        state_key = self._probes.pop(reservation_id, None)
        if state_key is None:
            return

        def attempt(pipe: Any) -> None:
            holder = pipe.hget(state_key, "probe_id")
            pipe.multi()
            if holder == reservation_id:
                pipe.hset(state_key, mapping={"probe_id": "", "probe_since_ms": ""})

        self.client.transaction(attempt, state_key)

    # -- housekeeping -------------------------------------------------------------------------------

    def prune(self, project: str, now_ms: int) -> int:
        """Drop request rows older than yesterday (each day's totals stay in its day hash, which expires
        after the history kept), expired blocks and old lowerings. Returns the rows dropped."""
        cutoff_ms = round(midnight_of(pacific_day(now_ms / 1000) - timedelta(days=1)) * 1000)
        dropped = 0
        for model in self.client.smembers(self._project_key(project, "models")):
            keys = [self._project_key(project, "req")] + [
                self._scope_key(project, model, name) for name in ("rows", "live", "leases", "blocks", "adj")
            ]
            dropped += int(self._scripts["PRUNE"](keys=keys, args=[self._now_arg(now_ms), cutoff_ms]))
        return dropped

    def _maybe_prune(self, project: str, now_ms: int) -> None:
        if now_ms >= self._next_prune_ms:
            self._next_prune_ms = now_ms + PRUNE_EVERY_MS
            self.prune(project, now_ms)
