"""The persistent request queue: messages that cannot go yet wait here, in order, and survive a kill -9.

One sqlite file (WAL) under the data dir serves the TUI and headless batches. An item is written
before anything is sent, so a crash loses nothing: `recover()` puts items a dead process was
sending back in line, and the next gemtui resumes or reports them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gemtui import paths

WAITING_STATES = ("queued", "sending")
FINAL_STATES = ("done", "failed", "cancelled", "merged")

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
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue(state, position);
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


class QueueError(Exception):
    """A queue operation that cannot be done (unknown or already finished item)."""


class RequestQueue:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.queue_file()
        self.warnings: list[str] = []
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            self.warnings.append(f"queue file was unreadable ({exc}); moved to {aside} and started afresh")
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(queue)")}
        if "message_id" not in columns:  # a queue file from an earlier gemtui
            db.execute("ALTER TABLE queue ADD COLUMN message_id INTEGER")
        return db

    def close(self) -> None:
        self._db.close()

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

    def next_queued(self) -> QueueItem | None:
        items = self.items(("queued",))
        return items[0] if items else None

    # ---- writing ---------------------------------------------------------------------------

    def add(
        self,
        conversation_id: int | None,
        prompt: str,
        *,
        preference: str = "auto",
        batch_id: str | None = None,
    ) -> QueueItem:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (top,) = self._db.execute("SELECT COALESCE(MAX(position), 0) FROM queue").fetchone()
            cursor = self._db.execute(
                "INSERT INTO queue(position, conversation_id, batch_id, prompt, preference, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (top + 1, conversation_id, batch_id, prompt, preference, now, now),
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
        owner = os.getpid() if state == "sending" else None
        self._db.execute(
            "UPDATE queue SET state=?, eta=?, reason=?, model=COALESCE(?, model), error=?, owner_pid=?,"
            " updated_at=? WHERE id=?",
            (state, eta, reason, model, error, owner, time.time(), item_id),
        )

    def set_message(self, item_id: int, message_id: int | None) -> None:
        """Remember which stored message this item sends, so a restart re-sends it instead of storing the
        prompt a second time."""
        self._db.execute("UPDATE queue SET message_id=?, updated_at=? WHERE id=?", (message_id, time.time(), item_id))

    def note_wait(self, item_id: int, eta: float, reason: str) -> None:
        """Record why an item waits and until when (shown as its countdown)."""
        self._db.execute(
            "UPDATE queue SET eta=?, reason=?, updated_at=? WHERE id=? AND state IN ('queued','sending')",
            (eta, reason, time.time(), item_id),
        )

    def cancel(self, item_id: int) -> bool:
        cursor = self._db.execute(
            "UPDATE queue SET state='cancelled', updated_at=? WHERE id=? AND state='queued'", (time.time(), item_id)
        )
        return cursor.rowcount == 1

    def edit(self, item_id: int, prompt: str) -> bool:
        if not prompt.strip():
            raise QueueError("a queued message cannot be edited to nothing; cancel it instead")
        cursor = self._db.execute(
            "UPDATE queue SET prompt=?, updated_at=? WHERE id=? AND state='queued'", (prompt, time.time(), item_id)
        )
        return cursor.rowcount == 1

    def merge(self, item_ids: Iterable[int]) -> QueueItem:
        """Fold queued items into the first of them (one request instead of many saves RPM)."""
        ids = list(dict.fromkeys(item_ids))
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
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
            now = time.time()
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
        rows = self._db.execute("SELECT id, owner_pid FROM queue WHERE state='sending'").fetchall()
        for row in rows:
            if not _alive(row["owner_pid"]):
                self._db.execute(
                    "UPDATE queue SET state='queued', owner_pid=NULL, reason=?, updated_at=? WHERE id=?",
                    ("resumed after gemtui stopped while sending", time.time(), row["id"]),
                )
        return self.items()

    def purge_finished(self, older_than_s: float = 7 * 86400) -> None:
        marks = ",".join("?" * len(FINAL_STATES))
        self._db.execute(
            f"DELETE FROM queue WHERE state IN ({marks}) AND updated_at < ?",
            (*FINAL_STATES, time.time() - older_than_s),
        )


def _alive(pid: int | None) -> bool:
    # recover() runs before this process sends anything, so its own pid there is a leftover from a
    # dead process whose pid was reused (common in containers).
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    )
