"""The persistent request queue: messages that cannot go yet wait here, in order, and survive a kill -9.

One sqlite file (WAL) under the data dir serves the TUI and headless batches. An item is written
before anything is sent, so a crash loses nothing: `recover()` puts items a dead process was
sending back in line, and the next gemtui resumes or reports them.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gemtui import paths
from gemtui.errors import scrub
from gemtui.storage import Result, Schema, Store, retry_if_rebuilt

WAITING_STATES = ("queued", "sending")
# `quarantined`: the row could not be shown or sent (bad data in the file); set aside, never picked again.
FINAL_STATES = ("done", "failed", "cancelled", "merged", "quarantined")
# A finished row has done its job (the answer or the error is in the conversation or the batch's output);
# kept a while for `gemtui queue` and for a look after a surprise, then dropped: it holds a prompt's text.
FINISHED_KEEP_S = 7 * 86400
# A batch record lets `gemtui queue --resume` run it again; one untouched this long, with nothing waiting, goes.
BATCH_KEEP_S = 30 * 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position REAL NOT NULL,
    conversation_id INTEGER,
    batch_id TEXT,
    prompt TEXT NOT NULL,
    preference TEXT NOT NULL DEFAULT 'auto',
    state TEXT NOT NULL DEFAULT 'queued',
    eta REAL,
    reason TEXT,
    model TEXT,
    error TEXT,
    owner_pid INTEGER,
    message_id INTEGER,
    owner_started TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue(state, position);
"""

# ---- batches (additive: one table, created if missing; the queue table itself is unchanged) ----
# One row per batch id: where its prompts and answers live, the options that shape its answers (so
# `gemtui queue --resume` can run it again), and the process running it now (pid + that process's
# start time, so a reused pid is not mistaken for the owner).
_BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    input_path TEXT NOT NULL,
    out_path TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    total INTEGER NOT NULL DEFAULT 0,
    owner_pid INTEGER,
    owner_started TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class QueueItem:
    id: int
    conversation_id: int | None
    prompt: str
    preference: str
    state: str
    eta: float | None
    reason: str | None
    model: str | None
    error: str | None
    created_at: float
    batch_id: str | None = None
    message_id: int | None = None  # the stored user message this item sends (set once it is stored)
    # The process that will send it (pid + its start time): another live gemtui's prompts are not this
    # one's to offer, send or cancel. None: nobody's, for the next gemtui to take.
    owner_pid: int | None = None
    owner_started: str | None = None


class QueueError(Exception):
    """A queue operation that cannot be done (unknown or already finished item)."""


def _v1_message_id(db: sqlite3.Connection) -> None:
    """Queue files from before `message_id` (and before schema versions)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(queue)")}
    if "message_id" not in columns:
        db.execute("ALTER TABLE queue ADD COLUMN message_id INTEGER")


def _v2_batches(db: sqlite3.Connection) -> None:
    """Batches and their owners (`gemtui queue`, resumable batches); one statement, inside the
    migration's transaction (executescript would commit it first)."""
    db.execute(_BATCH_SCHEMA)


def _v3_owner_started(db: sqlite3.Connection) -> None:
    """A row's owner is a pid and that process's start time, as a batch's is: a reused pid (common in
    containers) is not mistaken for the gemtui that queued the row."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(queue)")}
    if "owner_started" not in columns:
        db.execute("ALTER TABLE queue ADD COLUMN owner_started TEXT")


QUEUE_VERSION = 3
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (1, _v1_message_id),
    (2, _v2_batches),
    (3, _v3_owner_started),
)
SCHEMA = Schema(
    label="queue file",
    script=_SCHEMA,
    version=QUEUE_VERSION,
    migrations=MIGRATIONS,
    required={
        "queue": frozenset(
            {
                "id",
                "position",
                "conversation_id",
                "batch_id",
                "prompt",
                "preference",
                "state",
                "eta",
                "reason",
                "model",
                "error",
                "owner_pid",
                "owner_started",
                "message_id",
                "created_at",
                "updated_at",
            }
        )
    },
    consequence=" (messages that were waiting in it are in the old file)",
)


class BatchRunning(QueueError):
    """Another live process runs this batch (two runs would send and write every prompt twice)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"the batch is already running (process {pid})")
        self.pid = pid


class RequestQueue:
    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path or paths.queue_file()
        self.warnings: list[str] = []
        self._clock = clock
        self._store = Store(
            self.path, SCHEMA, clock=clock, busy_timeout_s=10.0, warnings=self.warnings, row_factory=sqlite3.Row
        )
        self._db = _Statements(self._store)

    def close(self) -> None:
        self._store.close()

    # ---- reading ---------------------------------------------------------------------------

    def get(self, item_id: int) -> QueueItem | None:
        row = self._db.execute("SELECT * FROM queue WHERE id=?", (item_id,)).fetchone()
        return _item(row) if row else None

    def items(self, states: Iterable[str] = WAITING_STATES, *, batch_id: str | None = None) -> list[QueueItem]:
        states = tuple(states)
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM queue WHERE state IN ({marks})"
        params: list[object] = list(states)
        if batch_id is not None:
            sql += " AND batch_id=?"
            params.append(batch_id)
        rows = self._db.execute(sql + " ORDER BY position, id", params).fetchall()
        return [_item(row) for row in rows]

    # ---- writing ---------------------------------------------------------------------------

    @retry_if_rebuilt
    def add(
        self,
        conversation_id: int | None,
        prompt: str,
        *,
        preference: str = "auto",
        batch_id: str | None = None,
    ) -> QueueItem:
        now = self._clock()
        with self._store.transaction():
            (top,) = self._db.execute("SELECT COALESCE(MAX(position), 0) FROM queue").fetchone()
            cursor = self._db.execute(
                "INSERT INTO queue(position, conversation_id, batch_id, prompt, preference, owner_pid, owner_started,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (top + 1, conversation_id, batch_id, prompt, preference, *_this_process(), now, now),
            )
        item = self.get(int(cursor.lastrowid or 0))
        assert item is not None
        return item

    def add_many(self, prompts: Iterable[str], *, batch_id: str, preference: str = "auto") -> list[QueueItem]:
        return [self.add(None, prompt, preference=preference, batch_id=batch_id) for prompt in prompts]

    def mark(
        self,
        item_id: int,
        state: str,
        *,
        eta: float | None = None,
        reason: str | None = None,
        model: str | None = None,
        error: str | None = None,
    ) -> None:
        owner = _this_process() if state in WAITING_STATES else (None, None)
        self._db.execute(
            "UPDATE queue SET state=?, eta=?, reason=?, model=COALESCE(?, model), error=?, owner_pid=?,"
            " owner_started=?, updated_at=? WHERE id=?",
            (state, eta, _scrubbed(reason), model, _scrubbed(error), *owner, self._clock(), item_id),
        )

    def claim(self, item_id: int) -> bool:
        """Make a waiting item this process's to send, unless another live gemtui holds it (True: ours)."""
        item = self.get(item_id)
        if item is None or item.state != "queued":
            return False
        if self.mine(item):
            return True
        cursor = self._db.execute(
            "UPDATE queue SET owner_pid=?, owner_started=?, updated_at=? WHERE id=? AND state='queued'"
            " AND owner_pid IS NULL",
            (*_this_process(), self._clock(), item_id),
        )
        return cursor.rowcount == 1

    @staticmethod
    def mine(item: QueueItem) -> bool:
        """Queued or being sent by this very process."""
        return (item.owner_pid, item.owner_started) == _this_process()

    @staticmethod
    def ours_or_nobodys(item: QueueItem) -> bool:
        """This process may send it: its own, or left by a gemtui that is gone (recover() cleared the owner)."""
        return item.owner_pid is None or RequestQueue.mine(item)

    def quarantine(self, item_id: int, error: str) -> None:
        """Set aside an item that cannot be shown or sent, with why: a bad row must not come back at every
        start (a crash loop) nor block the items behind it."""
        self._db.execute(
            "UPDATE queue SET state='quarantined', error=?, owner_pid=NULL, updated_at=? WHERE id=?",
            (_scrubbed(error), self._clock(), item_id),
        )

    def set_message(self, item_id: int, message_id: int | None) -> None:
        """Remember which stored message this item sends, so a restart re-sends it instead of storing the
        prompt a second time."""
        self._db.execute("UPDATE queue SET message_id=?, updated_at=? WHERE id=?", (message_id, self._clock(), item_id))

    def note_wait(self, item_id: int, eta: float, reason: str) -> None:
        """Record why an item waits and until when (shown as its countdown)."""
        self._db.execute(
            "UPDATE queue SET eta=?, reason=?, updated_at=? WHERE id=? AND state IN ('queued','sending')",
            (eta, reason, self._clock(), item_id),
        )

    def cancel(self, item_id: int) -> bool:
        """Cancel a waiting item of this process, or one nobody holds; never another running gemtui's."""
        pid, started = _this_process()
        cursor = self._db.execute(
            "UPDATE queue SET state='cancelled', owner_pid=NULL, owner_started=NULL, updated_at=? WHERE id=?"
            " AND state='queued' AND (owner_pid IS NULL OR (owner_pid=? AND owner_started IS ?))",
            (self._clock(), item_id, pid, started),
        )
        return cursor.rowcount == 1

    def edit(self, item_id: int, prompt: str) -> bool:
        if not prompt.strip():
            raise QueueError("a queued message cannot be edited to nothing; cancel it instead")
        cursor = self._db.execute(
            "UPDATE queue SET prompt=?, updated_at=? WHERE id=? AND state='queued'", (prompt, self._clock(), item_id)
        )
        return cursor.rowcount == 1

    @retry_if_rebuilt
    def merge(self, item_ids: Iterable[int]) -> QueueItem:
        """Fold queued items into the first of them (one request instead of many saves RPM)."""
        ids = list(dict.fromkeys(item_ids))
        with self._store.transaction():
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(
                f"SELECT * FROM queue WHERE id IN ({marks}) AND state='queued' ORDER BY position, id", ids
            ).fetchall()
            if len(rows) != len(ids) or len(rows) < 2:
                raise QueueError("merge needs two or more items that are still waiting")
            conversations = {row["conversation_id"] for row in rows}
            if len(conversations) > 1:
                raise QueueError("only messages of the same conversation can be merged")
            head, rest = rows[0], rows[1:]
            text = "\n\n".join(row["prompt"] for row in rows)
            now = self._clock()
            self._db.execute("UPDATE queue SET prompt=?, updated_at=? WHERE id=?", (text, now, head["id"]))
            self._db.executemany(
                "UPDATE queue SET state='merged', reason=?, updated_at=? WHERE id=?",
                [(f"merged into #{head['id']}", now, row["id"]) for row in rest],
            )
        item = self.get(head["id"])
        assert item is not None
        return item

    def recover(self) -> list[QueueItem]:
        """Put back in line what a process that is gone left `sending`; returns everything still waiting."""
        rows = self._db.execute(
            "SELECT id, state, owner_pid, owner_started FROM queue WHERE state IN ('queued','sending')"
            " AND owner_pid IS NOT NULL"
        ).fetchall()
        for row in rows:
            if owner_alive(row["owner_pid"], row["owner_started"]):
                continue  # a gemtui still running (another, or this one): its prompts stay its own
            if row["state"] == "sending":
                self._db.execute(
                    "UPDATE queue SET state='queued', owner_pid=NULL, owner_started=NULL, reason=?, updated_at=?"
                    " WHERE id=?",
                    ("resumed after gemtui stopped while sending", self._clock(), row["id"]),
                )
            else:
                self._db.execute("UPDATE queue SET owner_pid=NULL, owner_started=NULL WHERE id=?", (row["id"],))
        self.purge_finished()
        return self.items()

    def purge_finished(self) -> int:
        """Drop finished rows older than FINISHED_KEEP_S and idle batch records older than BATCH_KEEP_S, so
        the file does not grow with every message ever sent; returns how many queue rows went."""
        now = self._clock()
        marks = ",".join("?" * len(FINAL_STATES))
        with self._store.transaction():
            cursor = self._db.execute(
                f"DELETE FROM queue WHERE state IN ({marks}) AND updated_at < ?",
                (*FINAL_STATES, now - FINISHED_KEEP_S),
            )
            self._db.execute(
                "DELETE FROM batches WHERE owner_pid IS NULL AND updated_at < ? AND id NOT IN"
                " (SELECT batch_id FROM queue WHERE batch_id IS NOT NULL AND state IN ('queued','sending'))",
                (now - BATCH_KEEP_S,),
            )
        return cursor.rowcount

    # ---- batches ---------------------------------------------------------------------------

    def start_batch(
        self, batch_id: str, *, input_path: str, out_path: str | None, options: dict[str, object], total: int
    ) -> None:
        """Record (or take over) a batch as run by this process; its leftover waiting rows from an earlier,
        killed run are retired: this run queues afresh exactly what it will send."""
        now = self._clock()
        with self._store.transaction():
            row = self._db.execute("SELECT owner_pid, owner_started FROM batches WHERE id=?", (batch_id,)).fetchone()
            if row and row["owner_pid"] and owner_alive(row["owner_pid"], row["owner_started"]):
                raise BatchRunning(row["owner_pid"])
            self._db.execute(
                "INSERT INTO batches(id, input_path, out_path, options, total, owner_pid, owner_started,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                " input_path=excluded.input_path, out_path=excluded.out_path, options=excluded.options,"
                " total=excluded.total, owner_pid=excluded.owner_pid, owner_started=excluded.owner_started,"
                " updated_at=excluded.updated_at",
                (
                    batch_id,
                    input_path,
                    out_path,
                    json.dumps(options),
                    total,
                    os.getpid(),
                    process_started(os.getpid()),
                    now,
                    now,
                ),
            )
            self._db.execute(
                "UPDATE queue SET state='cancelled', owner_pid=NULL, reason=?, updated_at=?"
                " WHERE batch_id=? AND state IN ('queued','sending')",
                ("taken over by a later run of the same batch", now, batch_id),
            )

    def finish_batch(self, batch_id: str) -> None:
        """The run is over (answered, failed or stopped): no process owns the batch any more."""
        self._db.execute(
            "UPDATE batches SET owner_pid=NULL, owner_started=NULL, updated_at=? WHERE id=?", (self._clock(), batch_id)
        )

    def batch(self, batch_id: str) -> BatchRecord | None:
        row = self._db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return _batch(row) if row else None

    def batches(self) -> list[BatchRecord]:
        return [_batch(row) for row in self._db.execute("SELECT * FROM batches ORDER BY created_at")]

    def batch_running(self, batch_id: str) -> int | None:
        """The pid of the live process running this batch, or None (never run, finished, or killed)."""
        record = self.batch(batch_id)
        if record is None or not record.owner_pid:
            return None
        return record.owner_pid if owner_alive(record.owner_pid, record.owner_started) else None

    def orphaned(self, item: QueueItem) -> bool:
        """Waiting with nobody to send it: a batch item whose run is gone, or an item left `sending` by a
        process that is gone. (A chat item `queued` waits for the next TUI, which offers it.)"""
        if item.state not in WAITING_STATES:
            return False
        if item.batch_id is not None:
            return self.batch_running(item.batch_id) is None
        if item.state == "sending":
            return not owner_alive(item.owner_pid, item.owner_started)
        return False

    def cancel_waiting(self, item_id: int) -> bool:
        """Cancel an item nobody is sending now: `queued` (not of a running batch), or an orphan."""
        item = self.get(item_id)
        if item is None or item.state not in WAITING_STATES:
            return False
        if item.batch_id is not None and self.batch_running(item.batch_id) is not None:
            return False
        if item.state == "sending" and not self.orphaned(item):
            return False
        cursor = self._db.execute(
            "UPDATE queue SET state='cancelled', owner_pid=NULL, owner_started=NULL, reason=?, updated_at=? WHERE id=?"
            " AND state IN ('queued','sending')",
            ("cancelled with gemtui queue --cancel", self._clock(), item_id),
        )
        return cursor.rowcount == 1


@dataclass(frozen=True)
class BatchRecord:
    id: str
    input_path: str
    out_path: str | None
    options: dict[str, object]
    total: int
    owner_pid: int | None
    owner_started: str | None
    updated_at: float


def _batch(row: sqlite3.Row) -> BatchRecord:
    try:
        options = json.loads(row["options"] or "{}")
    except ValueError:
        options = {}
    return BatchRecord(
        id=row["id"],
        input_path=row["input_path"],
        out_path=row["out_path"],
        options=options if isinstance(options, dict) else {},
        total=row["total"],
        owner_pid=row["owner_pid"],
        owner_started=row["owner_started"],
        updated_at=row["updated_at"],
    )


def process_started(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot, from /proc), or None where the platform does not say.
    With the pid it names one process: a pid reused after a kill has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def owner_alive(pid: int | None, started: str | None) -> bool:
    """Is the process that recorded (pid, started) still running? Our own pid counts as alive only when
    the start time matches (a leftover of a dead process whose pid we now have does not)."""
    if not pid:
        return False
    if pid == os.getpid():
        return started is not None and (pid, started) == _this_process()
    if not _alive_pid(pid):
        return False
    now_started = process_started(pid)
    return started is None or now_started is None or now_started == started


class _Statements:
    """The store's statements under the queue's old name: each heals a damaged file (storage.py)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def execute(self, sql: str, params: Iterable[object] = ()) -> Result:
        return self._store.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> sqlite3.Cursor:
        return self._store.conn.executemany(sql, rows)


def _alive_pid(pid: int) -> bool:
    """A process with this pid exists and has not exited: a zombie (killed, not yet reaped by its parent)
    passes kill(pid, 0) but will send nothing more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc: kill(pid, 0) is all there is to go on
    fields = stat.rpartition(")")[2].split()
    return not (fields and fields[0] == "Z")


def _item(row: sqlite3.Row) -> QueueItem:
    return QueueItem(
        id=row["id"],
        conversation_id=row["conversation_id"],
        prompt=row["prompt"],
        preference=row["preference"],
        state=row["state"],
        eta=row["eta"],
        reason=row["reason"],
        model=row["model"],
        error=row["error"],
        created_at=row["created_at"],
        batch_id=row["batch_id"],
        message_id=row["message_id"],
        owner_pid=row["owner_pid"],
        owner_started=row["owner_started"],
    )


@functools.lru_cache(maxsize=4)
def _started(pid: int) -> str | None:
    return process_started(pid)


def _this_process() -> tuple[int, str | None]:
    """(pid, start time) of this process, as rows record their owner."""
    pid = os.getpid()
    return pid, _started(pid)


def _scrubbed(text: str | None) -> str | None:
    """Reasons and errors come from servers and exceptions: masked before they reach the file."""
    return scrub(text) if text else text
