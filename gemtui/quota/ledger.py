"""Where usage and learned state live, shared by every process that uses one project.

`Ledger` is the storage interface the engine talks to; `SqliteLedger` implements it on one file (WAL, busy
timeout, check-and-reserve inside one `BEGIN IMMEDIATE` transaction so several processes never over-admit).
A Redis ledger for teams sharing a project across machines would implement the same protocol (e.g. `reserve`
as WATCH/MULTI around the snapshot and the insert) without changing any caller.

What counts as usage: rows in state "reserved" or "committed". A reservation left behind by a killed process
stays counted until it ages out of every window (60 s for per-minute limits, the Pacific day for RPD): the
request may well have reached the server, so counting it is the conservative choice, and ageing out bounds
the cost. "released" rows never count.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from gemtui.quota.clock import Clock, SystemClock
from gemtui.quota.pacific import day_start

RESERVED, COMMITTED, RELEASED = "reserved", "committed", "released"
PRUNE_EVERY_MS = 10 * 60 * 1000
BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class UsageRow:
    ts_ms: int
    tokens: int
    images: int


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
    tier: str             # the tier 429 evidence says the project is on
    configured: str       # the configured tier it corrected; a new configured tier drops the correction


@dataclass
class ScopeSnapshot:
    """Everything admission needs about one project+model, read in one transaction."""

    now_ms: int
    window_rows: list[UsageRow] = field(default_factory=list)  # usage with ts > now - window, oldest first
    day_count: int = 0                                            # usage rows since the Pacific day began
    blocks: dict[str, int] = field(default_factory=dict)          # dimension -> blocked until (ms), future
    learned: dict[str, LearnedLimit] = field(default_factory=dict)
    adjustments: dict[str, Adjustment] = field(default_factory=dict)
    tier: TierCorrection | None = None


class Ledger(Protocol):
    """Storage for the quota engine. All times are epoch milliseconds."""

    warnings: list[str]

    def snapshot(self, project: str, model: str, *, now_ms: int, window_ms: int,
                 day_start_ms: int) -> ScopeSnapshot: ...

    def reserve(self, project: str, model: str, *, now_ms: int, window_ms: int, day_start_ms: int,
                tokens: int, images: int,
                admit: Callable[[ScopeSnapshot], bool]) -> tuple[ScopeSnapshot, str | None]:
        """Atomically: snapshot, ask `admit`, and insert a reserved row if it says yes. Returns its id."""

    def get(self, reservation_id: str) -> Reservation | None: ...

    def commit(self, reservation_id: str, tokens: int | None, images: int | None) -> bool: ...

    def release(self, reservation_id: str) -> Reservation | None: ...

    def set_block(self, project: str, model: str, dimension: str, until_ms: int) -> None:
        """Block a dimension until `until_ms`; an existing later block wins (never shorten a block)."""

    def set_learned(self, project: str, model: str, dimension: str, value: int | None, tier: str,
                    now_ms: int) -> None: ...

    def set_adjustment(self, project: str, model: str, dimension: str, adjustment: Adjustment) -> None: ...

    def clear_adjustment(self, project: str, model: str, dimension: str) -> None: ...

    def get_tier(self, project: str) -> TierCorrection | None: ...

    def set_tier(self, project: str, correction: TierCorrection | None, now_ms: int) -> None: ...

    def usage_between(self, project: str, model: str, start_ms: int, end_ms: int) -> list[UsageRow]:
        """Live (reserved or committed) rows with start_ms <= ts < end_ms, oldest first (history views)."""

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


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Ledgers written by an earlier gemtui lack later columns; add them with their defaults."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(adjustments)")}
    if "strikes" not in columns:
        conn.execute("ALTER TABLE adjustments ADD COLUMN strikes INTEGER NOT NULL DEFAULT 1")


class _Corrupt(Exception):
    pass


class SqliteLedger:
    """The ledger in one sqlite file; safe to share between threads of a process and between processes."""

    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._next_prune_ms = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except _Corrupt as exc:
            aside = self._move_aside()
            self.warnings.append(
                f"quota ledger {self.path} was unreadable ({exc}); moved it to {aside.name} and started a "
                "new one — usage counts restart from zero"
            )
            self._conn = self._open()
        self._maybe_prune(self._now_ms())

    # -- connection ---------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            while True:
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    conn.execute("PRAGMA synchronous = NORMAL")
                    conn.executescript(_SCHEMA)
                    _add_missing_columns(conn)
                    check = conn.execute("PRAGMA quick_check").fetchone()
                    break
                except sqlite3.OperationalError as exc:
                    # Another process creating the file at the same moment: wait, as the busy timeout would.
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            if check is None or check[0] != "ok":
                raise _Corrupt(f"integrity check: {check[0] if check else 'no answer'}")
            if mode is None or str(mode[0]).lower() != "wal":
                self.warnings.append(f"quota ledger {self.path}: WAL mode unavailable ({mode and mode[0]})")
            return conn
        except sqlite3.OperationalError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            conn.close()
            raise _Corrupt(str(exc)) from None
        except _Corrupt:
            conn.close()
            raise

    def _move_aside(self) -> Path:
        stamp = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                with contextlib.suppress(OSError):
                    os.replace(side, aside.with_name(aside.name + suffix))
        return aside

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    @contextlib.contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- reads --------------------------------------------------------------------------------------

    def _snapshot(self, conn: sqlite3.Connection, project: str, model: str, now_ms: int, window_ms: int,
                  day_start_ms: int) -> ScopeSnapshot:
        live = (RESERVED, COMMITTED)
        rows = conn.execute(
            "SELECT ts_ms, tokens, images FROM requests WHERE project = ? AND model = ? AND ts_ms > ? "
            "AND state IN (?, ?) ORDER BY ts_ms",
            (project, model, now_ms - window_ms, *live),
        ).fetchall()
        (day_count,) = conn.execute(
            "SELECT COUNT(*) FROM requests WHERE project = ? AND model = ? AND ts_ms >= ? "
            "AND state IN (?, ?)",
            (project, model, day_start_ms, *live),
        ).fetchone()
        blocks = dict(conn.execute(
            "SELECT dimension, until_ms FROM blocks WHERE project = ? AND model = ? AND until_ms > ?",
            (project, model, now_ms),
        ).fetchall())
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

    def snapshot(self, project: str, model: str, *, now_ms: int, window_ms: int,
                 day_start_ms: int) -> ScopeSnapshot:
        with self._tx("DEFERRED") as conn:
            return self._snapshot(conn, project, model, now_ms, window_ms, day_start_ms)

    def usage_between(self, project: str, model: str, start_ms: int, end_ms: int) -> list[UsageRow]:
        with self._tx("DEFERRED") as conn:
            rows = conn.execute(
                "SELECT ts_ms, tokens, images FROM requests WHERE project = ? AND model = ? AND ts_ms >= ? "
                "AND ts_ms < ? AND state IN (?, ?) ORDER BY ts_ms",
                (project, model, start_ms, end_ms, RESERVED, COMMITTED),
            ).fetchall()
        return [UsageRow(*r) for r in rows]

    def reserve(self, project: str, model: str, *, now_ms: int, window_ms: int, day_start_ms: int,
                tokens: int, images: int,
                admit: Callable[[ScopeSnapshot], bool]) -> tuple[ScopeSnapshot, str | None]:
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

    def get(self, reservation_id: str) -> Reservation | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, project, model, ts_ms, tokens, images, state FROM requests WHERE id = ?",
                (reservation_id,),
            ).fetchone()
        return Reservation(*row) if row else None

    # -- writes -------------------------------------------------------------------------------------

    def commit(self, reservation_id: str, tokens: int | None, images: int | None) -> bool:
        """Reconcile a reservation with the real counts (None keeps the estimate). Released rows stay so."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE requests SET state = ?, tokens = COALESCE(?, tokens), images = COALESCE(?, images) "
                "WHERE id = ? AND state IN (?, ?)",
                (COMMITTED, tokens, images, reservation_id, RESERVED, COMMITTED),
            )
            return cur.rowcount > 0

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
        return Reservation(*row)

    def set_block(self, project: str, model: str, dimension: str, until_ms: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO blocks (project, model, dimension, until_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (project, model, dimension) "
                "DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
                (project, model, dimension, int(until_ms)),
            )

    def set_learned(self, project: str, model: str, dimension: str, value: int | None, tier: str,
                    now_ms: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO learned_limits (project, model, dimension, value, tier, learned_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (project, model, dimension, value, tier, now_ms),
            )

    def set_adjustment(self, project: str, model: str, dimension: str, adjustment: Adjustment) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO adjustments (project, model, dimension, lowered_to, at_ms, strikes) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (project, model, dimension, int(adjustment.lowered_to), int(adjustment.at_ms),
                 int(adjustment.strikes)),
            )

    def clear_adjustment(self, project: str, model: str, dimension: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM adjustments WHERE project = ? AND model = ? AND dimension = ?",
                         (project, model, dimension))

    @staticmethod
    def _get_tier(conn: sqlite3.Connection, project: str) -> TierCorrection | None:
        row = conn.execute("SELECT tier, configured FROM project_tier WHERE project = ?",
                           (project,)).fetchone()
        return TierCorrection(*row) if row else None

    def get_tier(self, project: str) -> TierCorrection | None:
        with self._lock:
            return self._get_tier(self._conn, project)

    def set_tier(self, project: str, correction: TierCorrection | None, now_ms: int) -> None:
        with self._tx() as conn:
            if correction is None:
                conn.execute("DELETE FROM project_tier WHERE project = ?", (project,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO project_tier (project, tier, configured, updated_ms) "
                    "VALUES (?, ?, ?, ?)",
                    (project, correction.tier, correction.configured, now_ms),
                )

    # -- housekeeping -------------------------------------------------------------------------------

    def prune(self, now_ms: int) -> int:
        """Drop rows older than two Pacific days (yesterday is kept) and expired blocks; returns the count."""
        cutoff_ms = round(day_start(day_start(now_ms / 1000) - 1) * 1000)
        with self._tx() as conn:
            dropped = conn.execute("DELETE FROM requests WHERE ts_ms < ?", (cutoff_ms,)).rowcount
            conn.execute("DELETE FROM blocks WHERE until_ms <= ?", (now_ms,))
            conn.execute("DELETE FROM adjustments WHERE at_ms < ?", (cutoff_ms,))
        return dropped

    def _maybe_prune(self, now_ms: int) -> None:
        if now_ms >= self._next_prune_ms:
            self._next_prune_ms = now_ms + PRUNE_EVERY_MS
            self.prune(now_ms)
