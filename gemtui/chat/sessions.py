"""Stored conversations (sqlite): a message is stored before it is shown, partial answers in place.

One file (`paths.sessions_file()`) shared by the TUI and `gemtui ask --session`, possibly at the same
time: WAL and a busy timeout let both write. A file sqlite cannot read is moved aside as
`<name>.corrupt-<timestamp>` and a fresh one is built; `store.warnings` says so, and nothing crashes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gemtui import paths

ROLES = ("user", "model")
STATUSES = ("complete", "partial", "error", "pending", "compacted")
KINDS = ("message", "summary")
TITLE_MAX = 60
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT UNIQUE,
    title       TEXT,
    system      TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    conv_id        INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    pos            REAL NOT NULL,
    role           TEXT NOT NULL,
    text           TEXT NOT NULL,
    model          TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    latency_s      REAL,
    status         TEXT NOT NULL DEFAULT 'complete',
    pinned         INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    kind           TEXT NOT NULL DEFAULT 'message',
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conv ON messages(conv_id, pos, id);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at);
"""

_CONV_COLUMNS = "id, name, title, system, created_at, updated_at"
_MSG_COLUMNS = (
    "id, conv_id, role, text, model, input_tokens, output_tokens, latency_s, status, pinned, error, kind, "
    "created_at, updated_at"
)


class SessionError(Exception):
    """A request the store cannot honour; the message is one line for the user."""


class SessionNotFound(SessionError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class SessionNameTaken(SessionError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    name: str | None
    title: str | None
    system: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: int
    name: str | None
    title: str | None
    updated_at: float
    message_count: int
    last_model: str | None


@dataclass(frozen=True, slots=True)
class Message:
    id: int | None
    conv_id: int | None
    role: str
    text: str
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float | None = None
    status: str = "complete"
    pinned: bool = False
    error: str | None = None
    kind: str = "message"
    created_at: float = 0.0
    updated_at: float = 0.0


def short_title(text: str, limit: int = TITLE_MAX) -> str:
    """The first line of a message, whitespace collapsed, cut at a word near `limit` characters."""
    stripped = text.strip()
    first = stripped.splitlines()[0] if stripped else ""
    line = " ".join(first.split())
    if len(line) <= limit:
        return line or "(empty)"
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def _row_to_message(row: tuple) -> Message:
    return Message(
        id=row[0],
        conv_id=row[1],
        role=row[2],
        text=row[3],
        model=row[4],
        input_tokens=row[5],
        output_tokens=row[6],
        latency_s=row[7],
        status=row[8],
        pinned=bool(row[9]),
        error=row[10],
        kind=row[11],
        created_at=row[12],
        updated_at=row[13],
    )


def _row_to_conversation(row: tuple) -> Conversation:
    return Conversation(*row)


class SessionStore:
    """All conversations of this user. Thread-safe within a process; WAL-shared across processes."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = Path(path) if path is not None else paths.sessions_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.warnings: list[str] = []
        self._clock = clock
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.RLock()
        self._conn = self._open_or_rebuild()

    # ---- opening and recovery ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            check = conn.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check[0] if check else 'no answer'}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SessionError(
                    f"{self.path} was written by a newer gemtui (schema {version}); upgrade gemtui to open it"
                )
            conn.executescript(_SCHEMA)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_or_rebuild(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except SessionError:
            raise
        except sqlite3.DatabaseError as exc:
            # "file is not a database", "database disk image is malformed", a failed quick_check:
            # keep the user's bytes for forensics, start a fresh file, and say so.
            if self._is_busy(exc):
                raise
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            n = 1
            while aside.exists():
                aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
                n += 1
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    with contextlib.suppress(OSError):
                        side.replace(aside.with_name(aside.name + suffix))
            self.warnings.append(
                f"sessions file {self.path} could not be read ({exc}); it was moved to {aside.name} "
                "and a new, empty one was created"
            )
            return self._connect()

    @staticmethod
    def _is_busy(exc: sqlite3.DatabaseError) -> bool:
        text = str(exc).lower()
        return "locked" in text or "busy" in text

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): several changes land together or not at all.

        Re-entrant: a nested call joins the outer transaction.
        """
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # ---- conversations -----------------------------------------------------------------------

    def create(
        self, title: str | None = None, system: str | None = None, name: str | None = None
    ) -> Conversation:
        now = self._clock()
        with self.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO conversations(name, title, system, created_at, updated_at) "
                    "VALUES (?,?,?,?,?)",
                    (name, title, system, now, now),
                )
            except sqlite3.IntegrityError:
                raise SessionNameTaken(f"a session named {name!r} already exists") from None
            conv_id = cur.lastrowid
        return Conversation(conv_id, name, title, system, now, now)

    def get(self, conv_id: int) -> Conversation | None:
        rows = self._read(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE id = ?", (conv_id,)
        )
        return _row_to_conversation(rows[0]) if rows else None

    def find(self, name_or_id: str) -> Conversation | None:
        """By name first (names are what `ask --session` takes), then by numeric id (`12` or `#12`)."""
        key = str(name_or_id).strip()
        rows = self._read(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE name = ?", (key,)
        )
        if rows:
            return _row_to_conversation(rows[0])
        digits = key[1:] if key.startswith("#") else key
        if digits.isdigit():
            return self.get(int(digits))
        return None

    def get_or_create_named(self, name: str) -> Conversation:
        """The conversation called `name`, made on first use; safe when two processes race for it."""
        if not name or not name.strip():
            raise SessionError("a session name cannot be empty")
        now = self._clock()
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO conversations(name, title, system, created_at, updated_at) "
                "VALUES (?, NULL, NULL, ?, ?)",
                (name, now, now),
            )
            row = conn.execute(
                f"SELECT {_CONV_COLUMNS} FROM conversations WHERE name = ?",
                (name,),
            ).fetchone()
        return _row_to_conversation(row)

    def list(self, limit: int = 100) -> list[ConversationSummary]:
        """Most recently active first; counts leave out compacted messages (they are no longer history)."""
        rows = self._read(
            """
            SELECT c.id, c.name, c.title, c.updated_at,
                   (SELECT COUNT(*) FROM messages m WHERE m.conv_id = c.id AND m.status != 'compacted'),
                   (SELECT m.model FROM messages m
                     WHERE m.conv_id = c.id AND m.role = 'model' AND m.model IS NOT NULL
                       AND m.kind = 'message'
                     ORDER BY m.pos DESC, m.id DESC LIMIT 1)
            FROM conversations c
            ORDER BY c.updated_at DESC, c.id DESC
            LIMIT ?
            """,
            (int(limit),),
        )
        return [ConversationSummary(*row) for row in rows]

    def _touch(self, conn: sqlite3.Connection, conv_id: int, now: float) -> None:
        cur = conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))
        if cur.rowcount == 0:
            raise SessionNotFound(f"no session with id {conv_id}")

    def rename(self, conv_id: int, title: str) -> None:
        with self.transaction() as conn:
            self._touch(conn, conv_id, self._clock())
            conn.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conv_id))

    def set_system(self, conv_id: int, text: str | None) -> None:
        with self.transaction() as conn:
            self._touch(conn, conv_id, self._clock())
            conn.execute("UPDATE conversations SET system = ? WHERE id = ?", (text or None, conv_id))

    def delete(self, conv_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE conv_id = ?", (conv_id,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    # ---- messages ----------------------------------------------------------------------------

    def append(
        self,
        conv_id: int,
        role: str,
        text: str,
        *,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        latency_s: float | None = None,
        status: str = "complete",
        pinned: bool = False,
        kind: str = "message",
    ) -> Message:
        """Store a message at the end of the conversation (call this *before* showing it)."""
        return self._insert(
            conv_id, None, role, text, model=model, input_tokens=input_tokens, output_tokens=output_tokens,
            latency_s=latency_s, status=status, pinned=pinned, kind=kind,
        )

    def insert_after(
        self,
        after_id: int | None,
        conv_id: int,
        role: str,
        text: str,
        *,
        model: str | None = None,
        status: str = "complete",
        pinned: bool = False,
        kind: str = "message",
    ) -> Message:
        """Store a message right after `after_id` (None: first); /compact puts its summary there."""
        return self._insert(
            conv_id, after_id or 0, role, text, model=model, status=status, pinned=pinned, kind=kind
        )

    def _insert(
        self,
        conv_id: int,
        after_id: int | None,
        role: str,
        text: str,
        *,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        latency_s: float | None = None,
        status: str = "complete",
        pinned: bool = False,
        kind: str = "message",
    ) -> Message:
        if role not in ROLES:
            raise SessionError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if status not in STATUSES:
            raise SessionError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if kind not in KINDS:
            raise SessionError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        now = self._clock()
        with self.transaction() as conn:
            self._touch(conn, conv_id, now)
            pos = self._position(conn, conv_id, after_id)
            cur = conn.execute(
                """INSERT INTO messages(conv_id, pos, role, text, model, input_tokens, output_tokens,
                                        latency_s, status, pinned, kind, created_at, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (conv_id, pos, role, text, model, input_tokens, output_tokens, latency_s, status, int(pinned),
                 kind, now, now),
            )
            msg_id = cur.lastrowid
            if role == "user" and kind == "message":
                conn.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND (title IS NULL OR title = '')",
                    (short_title(text), conv_id),
                )
        return Message(
            msg_id, conv_id, role, text, model, input_tokens, output_tokens, latency_s, status, bool(pinned),
            None, kind, now, now,
        )

    @staticmethod
    def _position(conn: sqlite3.Connection, conv_id: int, after_id: int | None) -> float:
        """Order key: append = last + 1; insert = halfway to the next message (floats leave room)."""
        if after_id is None:
            row = conn.execute("SELECT MAX(pos) FROM messages WHERE conv_id = ?", (conv_id,)).fetchone()
            return (row[0] or 0.0) + 1.0
        if after_id == 0:
            lower = 0.0
            row = conn.execute("SELECT MIN(pos) FROM messages WHERE conv_id = ?", (conv_id,)).fetchone()
            upper = row[0]
            if upper is None:
                return 1.0
            return upper - 1.0 if upper <= 0 else (lower + upper) / 2
        row = conn.execute(
            "SELECT pos FROM messages WHERE id = ? AND conv_id = ?", (after_id, conv_id)
        ).fetchone()
        if row is None:
            raise SessionNotFound(f"no message {after_id} in session {conv_id}")
        lower = row[0]
        row = conn.execute(
            "SELECT MIN(pos) FROM messages WHERE conv_id = ? AND pos > ?", (conv_id, lower)
        ).fetchone()
        return lower + 1.0 if row[0] is None else (lower + row[0]) / 2

    def update_message(
        self,
        msg_id: int,
        *,
        text: str | None = None,
        status: str | None = None,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        latency_s: float | None = None,
        error: str | None = None,
    ) -> None:
        """Change only the fields given (a streamed answer grows in place, then turns complete/error)."""
        fields: dict[str, object] = {}
        for column, value in (
            ("text", text),
            ("status", status),
            ("model", model),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
            ("latency_s", latency_s),
            ("error", error),
        ):
            if value is not None:
                fields[column] = value
        if status is not None and status not in STATUSES:
            raise SessionError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        self._update(msg_id, fields)

    def _update(self, msg_id: int, fields: dict[str, object]) -> None:
        now = self._clock()
        with self.transaction() as conn:
            row = conn.execute("SELECT conv_id FROM messages WHERE id = ?", (msg_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no message with id {msg_id}")
            assignments = ", ".join(f"{column} = ?" for column in fields)
            conn.execute(
                f"UPDATE messages SET {assignments}{', ' if assignments else ''}updated_at = ? WHERE id = ?",
                (*fields.values(), now, msg_id),
            )
            self._touch(conn, row[0], now)

    def set_pinned(self, msg_id: int, pinned: bool) -> None:
        self._update(msg_id, {"pinned": int(bool(pinned))})

    def set_status(self, msg_ids: Iterable[int], status: str) -> int:
        """One status for many messages in one transaction (used by /compact); returns how many changed."""
        if status not in STATUSES:
            raise SessionError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        ids = list(msg_ids)
        now = self._clock()
        changed = 0
        with self.transaction() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cur = conn.execute(
                    f"UPDATE messages SET status = ?, updated_at = ? WHERE id IN ({marks})",
                    (status, now, *chunk),
                )
                changed += cur.rowcount
        return changed

    def get_message(self, msg_id: int) -> Message | None:
        rows = self._read(f"SELECT {_MSG_COLUMNS} FROM messages WHERE id = ?", (msg_id,))
        return _row_to_message(rows[0]) if rows else None

    def messages(self, conv_id: int, *, include_compacted: bool = True) -> list[Message]:
        """In conversation order. Compacted messages stay (recoverable) unless asked to leave them out."""
        where = "" if include_compacted else " AND status != 'compacted'"
        rows = self._read(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conv_id = ?{where} ORDER BY pos, id", (conv_id,)
        )
        return [_row_to_message(row) for row in rows]

    def delete_message(self, msg_id: int) -> None:
        with self.transaction() as conn:
            row = conn.execute("SELECT conv_id FROM messages WHERE id = ?", (msg_id,)).fetchone()
            if row is None:
                return
            conn.execute("DELETE FROM messages WHERE id = ?", (msg_id,))
            self._touch(conn, row[0], self._clock())

    # ---- export ------------------------------------------------------------------------------

    def export_markdown(self, conv_id: int, *, include_compacted: bool = True) -> str:
        """A readable transcript for /export: every answer says which model gave it and what it cost."""
        conv = self.get(conv_id)
        if conv is None:
            raise SessionNotFound(f"no session with id {conv_id}")
        out: list[str] = [f"# {conv.title or conv.name or f'Session {conv.id}'}", ""]
        meta = [f"- Session: {conv.name or '#' + str(conv.id)}", f"- Started: {_stamp(conv.created_at)}"]
        meta.append(f"- Updated: {_stamp(conv.updated_at)}")
        out += meta + [""]
        if conv.system:
            out += ["## System prompt", "", _quote(conv.system), ""]
        for msg in self.messages(conv_id, include_compacted=include_compacted):
            out += [_message_heading(msg), ""]
            flags = []
            if msg.pinned:
                flags.append("pinned")
            if msg.status in ("partial", "error", "pending", "compacted"):
                flags.append(
                    {
                        "partial": "incomplete: the answer stopped early",
                        "error": "failed",
                        "pending": "waiting for an answer",
                        "compacted": "compacted: replaced by a summary, not sent any more",
                    }[msg.status]
                )
            if flags:
                out += [f"*({'; '.join(flags)})*", ""]
            out.append(msg.text if msg.text else "*(empty)*")
            if msg.error:
                out += ["", f"> Error: {' '.join(msg.error.split())}"]
            out.append("")
        return "\n".join(out).rstrip() + "\n"


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def _message_heading(msg: Message) -> str:
    when = _stamp(msg.created_at)
    if msg.kind == "summary":
        by = f" by {msg.model}" if msg.model else ""
        return f"### Summary of earlier messages{by} · {when}"
    if msg.role == "user":
        return f"### You · {when}"
    parts = [msg.model or "model (unknown)"]
    tokens = []
    if msg.input_tokens is not None:
        tokens.append(f"{msg.input_tokens:,} in")
    if msg.output_tokens is not None:
        tokens.append(f"{msg.output_tokens:,} out")
    if tokens:
        parts.append(" / ".join(tokens) + " tokens")
    if msg.latency_s is not None:
        parts.append(f"{msg.latency_s:.1f} s")
    return f"### {' · '.join(parts)} · {when}"
