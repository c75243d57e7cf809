"""Where usage and learned state live, shared by every process that uses one project.

`Ledger` is the storage interface the engine talks to; `SqliteLedger` implements it on one file (WAL, busy
timeout, check-and-reserve inside one `BEGIN IMMEDIATE` transaction so several processes never over-admit).
`RedisLedger` (ledger_redis.py) implements the same protocol for a team sharing a project across machines.

What counts as usage: rows in state "reserved" or "committed". A reservation left behind by a killed process
stays counted until it ages out of every window (60 s for per-minute limits, the Pacific day for RPD): the
request may well have reached the server, so counting it is the conservative choice, and ageing out bounds
the cost. "released" rows never count.

History: admission needs only today's and the last minute's rows, so request rows live for two Pacific days
(today and yesterday). When they leave, the live ones are folded into `usage_days` — one row per project,
model and Pacific day (requests, input tokens, images) — which is kept for `history_days`. That table grows by
a handful of rows a day whatever the traffic, and admission never reads it.

Circuits: the breaker of each endpoint and model (breaker.py) lives here too, so every process sharing
the file sees one breaker; `circuit_outcomes` holds only the outcomes of its window.

The file carries its schema version (`PRAGMA user_version`); opening an older file upgrades it in place, one
versioned step at a time, inside one write transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from gemtui import storage
from gemtui.quota.clock import Clock, SystemClock
from gemtui.quota.pacific import midnight_of, pacific_day

RESERVED, COMMITTED, RELEASED = "reserved", "committed", "released"
PRUNE_EVERY_MS = 10 * 60 * 1000
BUSY_TIMEOUT_S = 30.0
DEFAULT_HISTORY_DAYS = 30
LEDGER_VERSION = 3
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class UsageRow:
    ts_ms: int
    tokens: int
    images: int
    mine: bool = True  # booked by this machine; a team ledger also holds other machines' requests


@dataclass(frozen=True)
class DayUsage:
    """One Pacific day of one model: live requests, their input tokens and images."""

    day: date
    requests: int = 0
    tokens: int = 0
    images: int = 0


@dataclass(frozen=True)
class Reservation:
    id: str
    project: str
    model: str
    ts_ms: int
    tokens: int
    images: int
    state: str


@dataclass(frozen=True)
class LearnedLimit:
    value: int | None
    tier: str  # the effective tier when it was learned: a different tier's limits do not apply


@dataclass(frozen=True)
class Adjustment:
    """Invisible usage: the effective limit was lowered to `lowered_to` at `at_ms` (see ghost.py)."""

    lowered_to: int
    at_ms: int
    strikes: int = 1  # hits in a row without a full recovery between them: each doubles the hold (ghost.py)


@dataclass(frozen=True)
class TierCorrection:
    tier: str  # the tier 429 evidence says the project is on
    configured: str  # the configured tier it corrected; a new configured tier drops the correction


@dataclass(frozen=True)
class Circuit:
    """The circuit breaker of one endpoint and model as stored (transitions: breaker.py), with the
    outcomes counted in its window while it is closed."""

    state: str = CLOSED
    opened_at_ms: int | None = None
    probe_at_ms: int | None = None
    openings: int = 0  # openings in a row: each doubles the cooling period
    closed_at_ms: int | None = None  # the last close, to tell a quick repeat opening
    probe_id: str | None = None  # the reservation holding the half-open probe
    probe_since_ms: int | None = None
    failures: int = 0
    requests: int = 0


@dataclass
class ScopeSnapshot:
    """Everything admission needs about one project+model, read in one transaction."""

    now_ms: int
    window_rows: list[UsageRow] = field(default_factory=list)  # usage with ts > now - window, oldest first
    day_count: int = 0  # usage rows since the Pacific day began
    blocks: dict[str, int] = field(default_factory=dict)  # dimension -> blocked until (ms), future
    learned: dict[str, LearnedLimit] = field(default_factory=dict)
    adjustments: dict[str, Adjustment] = field(default_factory=dict)
    tier: TierCorrection | None = None
    day_team: int = 0  # of day_count, booked by other machines


class Ledger(Protocol):
    """Storage for the quota engine. All times are epoch milliseconds."""

    warnings: list[str]

    def snapshot(
        self, project: str, model: str, *, now_ms: int, window_ms: int, day_start_ms: int
    ) -> ScopeSnapshot: ...

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
        """Atomically: snapshot, ask `admit`, and insert a reserved row if it says yes. Returns its id.

        `limits` gives the effective RPM/TPM/RPD/IPM `admit` applied to a snapshot (None = unlimited): a
        ledger that checks on a server (Redis) re-checks them there at the instant it inserts."""

    def get(self, reservation_id: str) -> Reservation | None: ...

    def commit(self, reservation_id: str, tokens: int | None, images: int | None) -> bool: ...

    def release(self, reservation_id: str) -> Reservation | None:
        """Stop counting a reservation; a half-open probe it held is handed back."""

    def set_block(self, project: str, model: str, dimension: str, until_ms: int) -> None:
        """Block a dimension until `until_ms`; an existing later block wins (never shorten a block)."""

    def set_learned(
        self, project: str, model: str, dimension: str, value: int | None, tier: str, now_ms: int
    ) -> None: ...

    def set_adjustment(self, project: str, model: str, dimension: str, adjustment: Adjustment) -> None: ...

    def clear_adjustment(self, project: str, model: str, dimension: str) -> None: ...

    def get_tier(self, project: str) -> TierCorrection | None: ...

    def set_tier(self, project: str, correction: TierCorrection | None, now_ms: int) -> None: ...

    def circuit(self, endpoint: str, model: str, *, now_ms: int, window_ms: int) -> Circuit:
        """The stored circuit of `endpoint` and `model` (closed when none), its window counted at `now_ms`."""

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
        """Atomically: count an outcome (`failed` True/False; None for none) in a closed circuit's window,
        apply `step` and store its result, which is returned. Leaving a non-closed state for closed
        empties the window."""

    def usage_between(self, project: str, model: str, start_ms: int, end_ms: int) -> list[UsageRow]:
        """Live (reserved or committed) rows with start_ms <= ts < end_ms, oldest first (history views)."""

    def usage_by_day(self, project: str, model: str, first_day: date, now_ms: int) -> dict[date, DayUsage]:
        """Live usage per Pacific day from `first_day` to now (days without usage are absent)."""

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, model TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    tokens INTEGER NOT NULL, images INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS requests_scope_ts ON requests (project, model, ts_ms);
CREATE TABLE IF NOT EXISTS blocks (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, until_ms INTEGER NOT NULL,
    PRIMARY KEY (project, model, dimension));
CREATE TABLE IF NOT EXISTS learned_limits (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, value INTEGER,
    tier TEXT NOT NULL, learned_ms INTEGER NOT NULL, PRIMARY KEY (project, model, dimension));
CREATE TABLE IF NOT EXISTS adjustments (
    project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL, lowered_to INTEGER NOT NULL,
    at_ms INTEGER NOT NULL, strikes INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (project, model, dimension));
CREATE TABLE IF NOT EXISTS project_tier (
    project TEXT PRIMARY KEY, tier TEXT NOT NULL, configured TEXT NOT NULL, updated_ms INTEGER NOT NULL);
"""


def _v1_adjustment_strikes(conn: sqlite3.Connection) -> None:
    """Ledgers from before schema versions may lack `adjustments.strikes`."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(adjustments)")}
    if "strikes" not in columns:
        conn.execute("ALTER TABLE adjustments ADD COLUMN strikes INTEGER NOT NULL DEFAULT 1")


def _v2_usage_days(conn: sqlite3.Connection) -> None:
    """Per-day rollups, so history outlives the two days of request rows."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS usage_days ("
        "project TEXT NOT NULL, model TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL, "
        "tokens INTEGER NOT NULL, images INTEGER NOT NULL, PRIMARY KEY (project, model, day)) WITHOUT ROWID"
    )


def _v3_circuits(conn: sqlite3.Connection) -> None:
    """The circuit breaker per endpoint and model, and the outcomes in its window (breaker.py)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS circuits ("
        "endpoint TEXT NOT NULL, model TEXT NOT NULL, state TEXT NOT NULL, opened_at_ms INTEGER, "
        "probe_at_ms INTEGER, openings INTEGER NOT NULL DEFAULT 0, closed_at_ms INTEGER, probe_id TEXT, "
        "probe_since_ms INTEGER, PRIMARY KEY (endpoint, model)) WITHOUT ROWID"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS circuit_outcomes ("
        "endpoint TEXT NOT NULL, model TEXT NOT NULL, ts_ms INTEGER NOT NULL, failed INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS circuit_outcomes_scope_ts ON circuit_outcomes (endpoint, model, ts_ms)")


# Version N is reached by running every step numbered <= N that the file has not had yet.
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (1, _v1_adjustment_strikes),
    (2, _v2_usage_days),
    (3, _v3_circuits),
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to LEDGER_VERSION in one write transaction; returns the version it had.

    A file from a newer gemtui is left alone: its changes only ever add, so this version still works on it.
    """
    return storage.migrate(conn, LEDGER_VERSION, MIGRATIONS)


SCHEMA = storage.Schema(
    label="quota ledger",
    script=_SCHEMA,
    version=LEDGER_VERSION,
    migrations=MIGRATIONS,
    required={
        "requests": frozenset({"id", "project", "model", "ts_ms", "tokens", "images", "state"}),
        "blocks": frozenset({"project", "model", "dimension", "until_ms"}),
        "learned_limits": frozenset({"project", "model", "dimension", "value", "tier", "learned_ms"}),
        "adjustments": frozenset({"project", "model", "dimension", "lowered_to", "at_ms", "strikes"}),
        "project_tier": frozenset({"project", "tier", "configured", "updated_ms"}),
        "usage_days": frozenset({"project", "model", "day", "requests", "tokens", "images"}),
        "circuits": frozenset(
            {
                "endpoint",
                "model",
                "state",
                "opened_at_ms",
                "probe_at_ms",
                "openings",
                "closed_at_ms",
                "probe_id",
                "probe_since_ms",
            }
        ),
        "circuit_outcomes": frozenset({"endpoint", "model", "ts_ms", "failed"}),
    },
    consequence=" — usage counts restart from zero",
)


class SqliteLedger:
    """The ledger in one sqlite file; safe to share between threads of a process and between processes."""

    def __init__(self, path: Path | str, clock: Clock | None = None, history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.history_days = max(1, int(history_days))
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._next_prune_ms = 0
        self._store = storage.Store(
            self.path, SCHEMA, clock=self.clock.now, busy_timeout_s=BUSY_TIMEOUT_S, warnings=self.warnings
        )
        self._lock = self._store.lock
        self._maybe_prune(self._now_ms())

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._store.conn

    def close(self) -> None:
        self._store.close()

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def _tx(self, mode: str = "IMMEDIATE") -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._store.transaction(mode)

    # -- reads --------------------------------------------------------------------------------------

    def _snapshot(
        self, conn: sqlite3.Connection, project: str, model: str, now_ms: int, window_ms: int, day_start_ms: int
    ) -> ScopeSnapshot:
        live = (RESERVED, COMMITTED)
        rows = conn.execute(
            "SELECT ts_ms, tokens, images FROM requests WHERE project = ? AND model = ? AND ts_ms > ? "
            "AND state IN (?, ?) ORDER BY ts_ms",
            (project, model, now_ms - window_ms, *live),
        ).fetchall()
        (day_count,) = conn.execute(
            "SELECT COUNT(*) FROM requests WHERE project = ? AND model = ? AND ts_ms >= ? AND state IN (?, ?)",
            (project, model, day_start_ms, *live),
        ).fetchone()
        blocks = dict(
            conn.execute(
                "SELECT dimension, until_ms FROM blocks WHERE project = ? AND model = ? AND until_ms > ?",
                (project, model, now_ms),
            ).fetchall()
        )
        learned = {
            dim: LearnedLimit(value, tier)
            for dim, value, tier in conn.execute(
                "SELECT dimension, value, tier FROM learned_limits WHERE project = ? AND model = ?",
                (project, model),
            )
        }
        adjustments = {
            dim: Adjustment(lowered, at, strikes)
            for dim, lowered, at, strikes in conn.execute(
                "SELECT dimension, lowered_to, at_ms, strikes FROM adjustments WHERE project = ? AND model = ?",
                (project, model),
            )
        }
        return ScopeSnapshot(
            now_ms=now_ms,
            window_rows=[UsageRow(*r) for r in rows],
            day_count=int(day_count),
            blocks=blocks,
            learned=learned,
            adjustments=adjustments,
            tier=self._get_tier(conn, project),
        )

    @storage.retry_if_rebuilt
    def snapshot(self, project: str, model: str, *, now_ms: int, window_ms: int, day_start_ms: int) -> ScopeSnapshot:
        with self._tx("DEFERRED") as conn:
            return self._snapshot(conn, project, model, now_ms, window_ms, day_start_ms)

    @storage.retry_if_rebuilt
    def usage_between(self, project: str, model: str, start_ms: int, end_ms: int) -> list[UsageRow]:
        with self._tx("DEFERRED") as conn:
            rows = conn.execute(
                "SELECT ts_ms, tokens, images FROM requests WHERE project = ? AND model = ? AND ts_ms >= ? "
                "AND ts_ms < ? AND state IN (?, ?) ORDER BY ts_ms",
                (project, model, start_ms, end_ms, RESERVED, COMMITTED),
            ).fetchall()
        return [UsageRow(*r) for r in rows]

    @storage.retry_if_rebuilt
    def usage_by_day(self, project: str, model: str, first_day: date, now_ms: int) -> dict[date, DayUsage]:
        out: dict[date, DayUsage] = {}
        with self._tx("DEFERRED") as conn:
            for day, requests, tokens, images in conn.execute(
                "SELECT day, requests, tokens, images FROM usage_days WHERE project = ? AND model = ? AND day >= ?",
                (project, model, first_day.isoformat()),
            ):
                when = date.fromisoformat(day)
                out[when] = DayUsage(when, int(requests), int(tokens), int(images))
            rows = conn.execute(
                "SELECT ts_ms, tokens, images FROM requests WHERE project = ? AND model = ? AND ts_ms >= ? "
                "AND ts_ms <= ? AND state IN (?, ?) ORDER BY ts_ms",
                (project, model, round(midnight_of(first_day) * 1000), now_ms, RESERVED, COMMITTED),
            ).fetchall()
        day_end_ms = 0
        current: date | None = None
        for ts_ms, tokens, images in rows:
            if ts_ms >= day_end_ms or current is None:  # rows are in order: look the day up once per day
                current = pacific_day(ts_ms / 1000)
                day_end_ms = round(midnight_of(current + timedelta(days=1)) * 1000)
            had = out.get(current, DayUsage(current))
            out[current] = DayUsage(current, had.requests + 1, had.tokens + tokens, had.images + images)
        return out

    @storage.retry_if_rebuilt
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
        # `limits` is not needed here: the whole step is one write transaction.
        with self._tx("IMMEDIATE") as conn:
            snap = self._snapshot(conn, project, model, now_ms, window_ms, day_start_ms)
            rid = None
            if admit(snap):
                rid = uuid.uuid4().hex
                conn.execute(
                    "INSERT INTO requests (id, project, model, ts_ms, tokens, images, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rid, project, model, now_ms, int(tokens), int(images), RESERVED),
                )
        self._maybe_prune(now_ms)
        return snap, rid

    _CIRCUIT_COLUMNS = "state, opened_at_ms, probe_at_ms, openings, closed_at_ms, probe_id, probe_since_ms"

    def _circuit(self, conn: sqlite3.Connection, endpoint: str, model: str, now_ms: int, window_ms: int) -> Circuit:
        row = conn.execute(
            f"SELECT {self._CIRCUIT_COLUMNS} FROM circuits WHERE endpoint = ? AND model = ?", (endpoint, model)
        ).fetchone()
        failures, requests = conn.execute(
            "SELECT COALESCE(SUM(failed), 0), COUNT(*) FROM circuit_outcomes WHERE endpoint = ? AND model = ? "
            "AND ts_ms > ?",
            (endpoint, model, now_ms - window_ms),
        ).fetchone()
        stored = Circuit(*row) if row else Circuit()
        return replace(stored, failures=int(failures), requests=int(requests))

    @storage.retry_if_rebuilt
    def circuit(self, endpoint: str, model: str, *, now_ms: int, window_ms: int) -> Circuit:
        with self._tx("DEFERRED") as conn:
            return self._circuit(conn, endpoint, model, now_ms, window_ms)

    @storage.retry_if_rebuilt
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
        with self._tx("IMMEDIATE") as conn:
            conn.execute(
                "DELETE FROM circuit_outcomes WHERE endpoint = ? AND model = ? AND ts_ms <= ?",
                (endpoint, model, now_ms - window_ms),
            )
            before = self._circuit(conn, endpoint, model, now_ms, window_ms)
            if failed is not None and before.state == CLOSED:
                conn.execute(
                    "INSERT INTO circuit_outcomes (endpoint, model, ts_ms, failed) VALUES (?, ?, ?, ?)",
                    (endpoint, model, now_ms, int(failed)),
                )
                before = replace(before, failures=before.failures + int(failed), requests=before.requests + 1)
            after = step(before)
            if after.state == CLOSED and before.state != CLOSED:
                conn.execute("DELETE FROM circuit_outcomes WHERE endpoint = ? AND model = ?", (endpoint, model))
            if after != before:
                conn.execute(
                    f"INSERT OR REPLACE INTO circuits (endpoint, model, {self._CIRCUIT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        endpoint,
                        model,
                        after.state,
                        after.opened_at_ms,
                        after.probe_at_ms,
                        after.openings,
                        after.closed_at_ms,
                        after.probe_id,
                        after.probe_since_ms,
                    ),
                )
        return after

    def get(self, reservation_id: str) -> Reservation | None:
        with self._lock:
            row = self._store.execute(
                "SELECT id, project, model, ts_ms, tokens, images, state FROM requests WHERE id = ?",
                (reservation_id,),
            ).fetchone()
        return Reservation(*row) if row else None

    # -- writes -------------------------------------------------------------------------------------

    @storage.retry_if_rebuilt
    def commit(self, reservation_id: str, tokens: int | None, images: int | None) -> bool:
        """Reconcile a reservation with the real counts (None keeps the estimate). Released rows stay so."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE requests SET state = ?, tokens = COALESCE(?, tokens), images = COALESCE(?, images) "
                "WHERE id = ? AND state IN (?, ?)",
                (COMMITTED, tokens, images, reservation_id, RESERVED, COMMITTED),
            )
            return cur.rowcount > 0

    @storage.retry_if_rebuilt
    def release(self, reservation_id: str) -> Reservation | None:
        """Stop counting a reservation; returns it (as it was) or None when unknown. Idempotent."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, project, model, ts_ms, tokens, images, state FROM requests WHERE id = ?",
                (reservation_id,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE requests SET state = ? WHERE id = ?", (RELEASED, reservation_id))
            # A released probe brought no evidence about the circuit: the next request may probe.
            conn.execute(
                "UPDATE circuits SET probe_id = NULL, probe_since_ms = NULL WHERE probe_id = ?", (reservation_id,)
            )
        return Reservation(*row)

    @storage.retry_if_rebuilt
    def set_block(self, project: str, model: str, dimension: str, until_ms: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO blocks (project, model, dimension, until_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (project, model, dimension) "
                "DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
                (project, model, dimension, int(until_ms)),
            )

    @storage.retry_if_rebuilt
    def set_learned(self, project: str, model: str, dimension: str, value: int | None, tier: str, now_ms: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO learned_limits (project, model, dimension, value, tier, learned_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (project, model, dimension, value, tier, now_ms),
            )

    @storage.retry_if_rebuilt
    def set_adjustment(self, project: str, model: str, dimension: str, adjustment: Adjustment) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO adjustments (project, model, dimension, lowered_to, at_ms, strikes) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (project, model, dimension, int(adjustment.lowered_to), int(adjustment.at_ms), int(adjustment.strikes)),
            )

    @storage.retry_if_rebuilt
    def clear_adjustment(self, project: str, model: str, dimension: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM adjustments WHERE project = ? AND model = ? AND dimension = ?", (project, model, dimension)
            )

    @staticmethod
    def _get_tier(conn: sqlite3.Connection, project: str) -> TierCorrection | None:
        row = conn.execute("SELECT tier, configured FROM project_tier WHERE project = ?", (project,)).fetchone()
        return TierCorrection(*row) if row else None

    @storage.retry_if_rebuilt
    def get_tier(self, project: str) -> TierCorrection | None:
        with self._tx("DEFERRED") as conn:
            return self._get_tier(conn, project)

    @storage.retry_if_rebuilt
    def set_tier(self, project: str, correction: TierCorrection | None, now_ms: int) -> None:
        with self._tx() as conn:
            if correction is None:
                conn.execute("DELETE FROM project_tier WHERE project = ?", (project,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO project_tier (project, tier, configured, updated_ms) VALUES (?, ?, ?, ?)",
                    (project, correction.tier, correction.configured, now_ms),
                )

    # -- housekeeping -------------------------------------------------------------------------------

    @storage.retry_if_rebuilt
    def prune(self, now_ms: int) -> int:
        """Fold request rows older than yesterday into per-day rollups and drop them; drop rollups older
        than `history_days`, expired blocks and stale adjustments. Returns the number of request rows dropped.

        One write transaction: a row is either still a row or already in its day's total, never both.
        """
        today = pacific_day(now_ms / 1000)
        cutoff_day = today - timedelta(days=1)
        cutoff_ms = round(midnight_of(cutoff_day) * 1000)
        oldest_kept = today - timedelta(days=self.history_days - 1)
        with self._tx() as conn:
            (oldest_ms,) = conn.execute("SELECT MIN(ts_ms) FROM requests WHERE ts_ms < ?", (cutoff_ms,)).fetchone()
            if oldest_ms is not None:
                day = max(pacific_day(oldest_ms / 1000), oldest_kept)
                while day < cutoff_day:
                    self._roll_up(conn, day)
                    day += timedelta(days=1)
            dropped = conn.execute("DELETE FROM requests WHERE ts_ms < ?", (cutoff_ms,)).rowcount
            conn.execute("DELETE FROM usage_days WHERE day < ?", (oldest_kept.isoformat(),))
            conn.execute("DELETE FROM blocks WHERE until_ms <= ?", (now_ms,))
            conn.execute("DELETE FROM adjustments WHERE at_ms < ?", (cutoff_ms,))
            conn.execute("DELETE FROM circuit_outcomes WHERE ts_ms < ?", (cutoff_ms,))
        return dropped

    @staticmethod
    def _roll_up(conn: sqlite3.Connection, day: date) -> None:
        """Add one Pacific day's live request rows to its rollup (added to, in case late rows arrive)."""
        start_ms = round(midnight_of(day) * 1000)
        end_ms = round(midnight_of(day + timedelta(days=1)) * 1000)
        conn.execute(
            "INSERT INTO usage_days (project, model, day, requests, tokens, images) "
            "SELECT project, model, ?, COUNT(*), SUM(tokens), SUM(images) FROM requests "
            "WHERE ts_ms >= ? AND ts_ms < ? AND state IN (?, ?) GROUP BY project, model "
            "ON CONFLICT (project, model, day) DO UPDATE SET requests = requests + excluded.requests, "
            "tokens = tokens + excluded.tokens, images = images + excluded.images",
            (day.isoformat(), start_ms, end_ms, RESERVED, COMMITTED),
        )

    def _maybe_prune(self, now_ms: int) -> None:
        if now_ms >= self._next_prune_ms:
            self._next_prune_ms = now_ms + PRUNE_EVERY_MS
            self.prune(now_ms)
