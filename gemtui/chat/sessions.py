"""Stored conversations (sqlite): a message is stored before it is shown, partial answers in place.

One file (`paths.sessions_file()`) shared by the TUI and `gemtui ask --session`, possibly at the same
time: WAL and a busy timeout let both write. A file sqlite cannot read is moved aside as
`<name>.corrupt-<timestamp>` and a fresh one is built (gemtui/storage.py); `store.warnings` says so, the
CLI and the TUI show it, and nothing crashes.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gemtui import paths
from gemtui.chat.images_out import SavedImage
from gemtui.errors import scrub
from gemtui.generation import GenerationSettings
from gemtui.storage import Schema, Store, retry_if_rebuilt
from gemtui.textin import typed_number
from gemtui.turns import Attachment

log = logging.getLogger(__name__)

ROLES = ("user", "model")
STATUSES = ("complete", "partial", "error", "pending", "compacted")
KINDS = ("message", "summary")
TITLE_MAX = 60
SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT UNIQUE,
    title       TEXT,
    system      TEXT,
    settings    TEXT,
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
    thoughts_tokens INTEGER,
    latency_s      REAL,
    status         TEXT NOT NULL DEFAULT 'complete',
    pinned         INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    kind           TEXT NOT NULL DEFAULT 'message',
    cached         INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    attachments    TEXT,
    images         TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_conv ON messages(conv_id, pos, id);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at);
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


def _v2_settings(db: sqlite3.Connection) -> None:
    """Step 2: a conversation's generation settings (JSON) and an answer's thinking tokens. Idempotent:
    a column is added only where it is missing."""
    for table, column, kind in (("conversations", "settings", "TEXT"), ("messages", "thoughts_tokens", "INTEGER")):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _v4_cached(db: sqlite3.Connection) -> None:
    """Answers served from the response cache are marked (files from before the cache have none)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    if "cached" not in columns:
        db.execute("ALTER TABLE messages ADD COLUMN cached INTEGER NOT NULL DEFAULT 0")


_BLOBS = "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL)"


def _v3_attachments(db: sqlite3.Connection) -> None:
    """Files attached to a user message (`attachments`: JSON of path, mime, size, digest, tokens, and the
    text of a text file) and images saved from an answer (`images`: JSON of their paths). The bytes of an
    attached image or PDF live once in `blobs`, by digest: a conversation resends them every turn, the
    same file attached twice is stored once, and reading the messages table never drags them along
    as base64 text."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    for column in ("attachments", "images"):
        if column not in columns:
            db.execute(f"ALTER TABLE messages ADD COLUMN {column} TEXT")
    db.execute(_BLOBS)


MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (2, _v2_settings),
    (3, _v3_attachments),
    (4, _v4_cached),
)

SCHEMA = Schema(
    label="sessions file",
    script=_SCHEMA,
    version=SCHEMA_VERSION,
    migrations=MIGRATIONS,
    required={
        "conversations": frozenset({"id", "name", "title", "system", "settings", "created_at", "updated_at"}),
        "messages": frozenset(
            {
                "id",
                "conv_id",
                "pos",
                "role",
                "text",
                "model",
                "input_tokens",
                "output_tokens",
                "thoughts_tokens",
                "latency_s",
                "status",
                "pinned",
                "error",
                "kind",
                "cached",
                "created_at",
                "updated_at",
                "attachments",
                "images",
            }
        ),
    },
    consequence=" (stored conversations are in the old file)",
    foreign_keys=True,
)

_CONV_COLUMNS = "id, name, title, system, created_at, updated_at, settings"
_MSG_COLUMNS = (
    "id, conv_id, role, text, model, input_tokens, output_tokens, latency_s, status, pinned, error, kind, "
    "created_at, updated_at, thoughts_tokens, cached, attachments, images"
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
    settings: GenerationSettings = GenerationSettings()  # set per conversation (/set, `ask --temperature`)


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
    thoughts_tokens: int | None = None  # usageMetadata.thoughtsTokenCount of an answer
    cached: bool = False  # answered from the response cache, not by a request
    attachments: tuple[Attachment, ...] = ()
    images: tuple[SavedImage, ...] = ()


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise SessionError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


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


def _row_to_message(row: tuple[Any, ...], blobs: dict[str, bytes] | None = None) -> Message:
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
        thoughts_tokens=row[14],
        cached=bool(row[15]),
        attachments=_attachments_from(row[16], blobs or {}),
        images=_images_from(row[17]),
    )


def _attachments_json(attachments: Sequence[Attachment]) -> str | None:
    if not attachments:
        return None
    return json.dumps(
        [
            {
                "path": a.path,
                "mime": a.mime,
                "size": a.size,
                "digest": a.digest,
                "tokens": a.tokens,
                **({"text": a.text} if a.is_text else {}),
            }
            for a in attachments
        ],
        ensure_ascii=False,
    )


def _attachments_from(raw: str | None, blobs: dict[str, bytes]) -> tuple[Attachment, ...]:
    """Stored attachments; an image whose bytes are gone is left out rather than sent empty."""
    out = []
    for item in _json_list(raw):
        try:
            text = item.get("text")
            data = None if isinstance(text, str) else blobs.get(str(item["digest"]))
            if text is None and data is None:
                continue
            out.append(
                Attachment(
                    str(item["path"]),
                    str(item["mime"]),
                    int(item["size"]),
                    str(item["digest"]),
                    int(item.get("tokens") or 0),
                    text=text if isinstance(text, str) else None,
                    data=data,
                )
            )
        except (KeyError, TypeError, ValueError):
            log.warning("a stored attachment could not be read; it is left out")
    return tuple(out)


def _images_from(raw: str | None) -> tuple[SavedImage, ...]:
    out = []
    for item in _json_list(raw):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out.append(SavedImage.from_dict(item))
    return tuple(out)


def _json_list(raw: str | None) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _blob_digests(rows: Iterable[tuple[Any, ...]]) -> set[str]:
    return {str(item.get("digest")) for row in rows for item in _json_list(row[16]) if "text" not in item}


def _row_to_conversation(row: tuple[Any, ...]) -> Conversation:
    conv_id, name, title, system, created_at, updated_at, settings = row[:7]
    return Conversation(
        conv_id, name, title, system, created_at, updated_at, settings=GenerationSettings.from_json(settings)
    )


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
        self.warnings: list[str] = []
        self._clock = clock
        self._store = Store(
            self.path, SCHEMA, clock=clock, busy_timeout_s=busy_timeout_ms / 1000, warnings=self.warnings
        )
        self._lock = self._store.lock

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._store.conn

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): several changes land together or not at all.

        Re-entrant: a nested call joins the outer transaction. A damaged file met here is moved aside and
        a fresh one opened (`storage.StoreRebuilt`; the store's public methods then run once more).
        """
        return self._store.transaction("IMMEDIATE")

    # Rows are Any: sqlite returns untyped values; the schema, not the driver, says what each column holds.
    def _read(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        return self._store.fetchall(sql, tuple(params))

    # ---- conversations -----------------------------------------------------------------------

    @retry_if_rebuilt
    def create(self, title: str | None = None, system: str | None = None, name: str | None = None) -> Conversation:
        now = self._clock()
        with self.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO conversations(name, title, system, created_at, updated_at) VALUES (?,?,?,?,?)",
                    (name, title, system, now, now),
                )
            except sqlite3.IntegrityError:
                raise SessionNameTaken(f"a session named {name!r} already exists") from None
            conv_id = cur.lastrowid
        assert conv_id is not None  # an INSERT always sets it
        return Conversation(conv_id, name, title, system, now, now)

    def get(self, conv_id: int) -> Conversation | None:
        rows = self._read(f"SELECT {_CONV_COLUMNS} FROM conversations WHERE id = ?", (conv_id,))
        return _row_to_conversation(rows[0]) if rows else None

    def find(self, name_or_id: str) -> Conversation | None:
        """By name first (names are what `ask --session` takes), then by numeric id (`12` or `#12`)."""
        key = str(name_or_id).strip()
        rows = self._read(f"SELECT {_CONV_COLUMNS} FROM conversations WHERE name = ?", (key,))
        if rows:
            return _row_to_conversation(rows[0])
        number = typed_number(key)
        return self.get(number) if number is not None else None

    @retry_if_rebuilt
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

    @retry_if_rebuilt
    def rename(self, conv_id: int, title: str) -> None:
        with self.transaction() as conn:
            self._touch(conn, conv_id, self._clock())
            conn.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conv_id))

    @retry_if_rebuilt
    def set_system(self, conv_id: int, text: str | None) -> None:
        with self.transaction() as conn:
            self._touch(conn, conv_id, self._clock())
            conn.execute("UPDATE conversations SET system = ? WHERE id = ?", (text or None, conv_id))

    @retry_if_rebuilt
    def set_settings(self, conv_id: int, settings: GenerationSettings) -> None:
        """The conversation's generation settings (only those set are stored; none set stores NULL)."""
        with self.transaction() as conn:
            self._touch(conn, conv_id, self._clock())
            conn.execute("UPDATE conversations SET settings = ? WHERE id = ?", (settings.to_json(), conv_id))

    @retry_if_rebuilt
    def delete(self, conv_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE conv_id = ?", (conv_id,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    # ---- messages ----------------------------------------------------------------------------

    @retry_if_rebuilt
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
        attachments: Sequence[Attachment] = (),
    ) -> Message:
        """Store a message at the end of the conversation (call this *before* showing it)."""
        return self._insert(
            conv_id,
            None,
            role,
            text,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_s=latency_s,
            status=status,
            pinned=pinned,
            kind=kind,
            attachments=attachments,
        )

    @retry_if_rebuilt
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
        return self._insert(conv_id, after_id or 0, role, text, model=model, status=status, pinned=pinned, kind=kind)

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
        attachments: Sequence[Attachment] = (),
    ) -> Message:
        _check_choice("role", role, ROLES)
        _check_choice("status", status, STATUSES)
        _check_choice("kind", kind, KINDS)
        now = self._clock()
        msg = Message(
            None, conv_id, role, text, model, input_tokens, output_tokens, latency_s, status, bool(pinned),
            None, kind, now, now, attachments=tuple(attachments),
        )  # fmt: skip
        with self.transaction() as conn:
            self._touch(conn, conv_id, now)
            msg_id = self._write_new(conn, msg, self._position(conn, conv_id, after_id))
        return replace(msg, id=msg_id)

    @staticmethod
    def _write_new(conn: sqlite3.Connection, msg: Message, pos: float) -> int | None:
        """The row of a new message, its attachments' bytes (once per digest), and the conversation's
        title from its first prompt."""
        cur = conn.execute(
            """INSERT INTO messages(conv_id, pos, role, text, model, input_tokens, output_tokens,
                                    latency_s, status, pinned, kind, created_at, updated_at, attachments)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                msg.conv_id, pos, msg.role, msg.text, msg.model, msg.input_tokens, msg.output_tokens,
                msg.latency_s, msg.status, int(msg.pinned), msg.kind, msg.created_at, msg.updated_at,
                _attachments_json(msg.attachments),
            ),
        )  # fmt: skip
        for item in msg.attachments:
            if item.data is not None:
                conn.execute("INSERT OR IGNORE INTO blobs(digest, data) VALUES (?, ?)", (item.digest, item.data))
        if msg.role == "user" and msg.kind == "message":
            conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND (title IS NULL OR title = '')",
                (short_title(msg.text), msg.conv_id),
            )
        return cur.lastrowid

    @staticmethod
    def _position(conn: sqlite3.Connection, conv_id: int, after_id: int | None) -> float:
        """Order key: append = last + 1; insert = halfway to the next message (floats leave room)."""
        if after_id is None:
            row = conn.execute("SELECT MAX(pos) FROM messages WHERE conv_id = ?", (conv_id,)).fetchone()
            return (row[0] or 0.0) + 1.0
        if after_id == 0:
            lower = 0.0
            row = conn.execute("SELECT MIN(pos) FROM messages WHERE conv_id = ?", (conv_id,)).fetchone()
            upper: float | None = row[0]
            if upper is None:
                return 1.0
            return upper - 1.0 if upper <= 0 else (lower + upper) / 2
        row = conn.execute("SELECT pos FROM messages WHERE id = ? AND conv_id = ?", (after_id, conv_id)).fetchone()
        if row is None:
            raise SessionNotFound(f"no message {after_id} in session {conv_id}")
        lower = float(row[0])  # a REAL column
        row = conn.execute("SELECT MIN(pos) FROM messages WHERE conv_id = ? AND pos > ?", (conv_id, lower)).fetchone()
        above: float | None = row[0]
        return lower + 1.0 if above is None else (lower + above) / 2

    @retry_if_rebuilt
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
        thoughts_tokens: int | None = None,
        cached: bool | None = None,
        images: Sequence[SavedImage] | None = None,
    ) -> None:
        """Change only the fields given (a streamed answer grows in place, then turns complete/error)."""
        fields: dict[str, object] = {}
        for column, value in (
            ("text", text),
            ("status", status),
            ("model", model),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
            ("thoughts_tokens", thoughts_tokens),
            ("latency_s", latency_s),
            ("error", scrub(error) if error else error),  # server/exception text: masked
            ("cached", None if cached is None else int(cached)),
            ("images", json.dumps([i.as_dict() for i in images], ensure_ascii=False) if images else None),
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

    @retry_if_rebuilt
    def set_pinned(self, msg_id: int, pinned: bool) -> None:
        self._update(msg_id, {"pinned": int(bool(pinned))})

    @retry_if_rebuilt
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
        return _row_to_message(rows[0], self._blobs(rows)) if rows else None

    # builtins.list: in this class body `list` names the method `list` above
    def messages(self, conv_id: int, *, include_compacted: bool = True) -> builtins.list[Message]:
        """In conversation order. Compacted messages stay (recoverable) unless asked to leave them out."""
        where = "" if include_compacted else " AND status != 'compacted'"
        rows = self._read(f"SELECT {_MSG_COLUMNS} FROM messages WHERE conv_id = ?{where} ORDER BY pos, id", (conv_id,))
        blobs = self._blobs(rows)
        return [_row_to_message(row, blobs) for row in rows]

    def _blobs(self, rows: builtins.list[tuple[Any, ...]]) -> dict[str, bytes]:
        """The bytes of the images and PDFs these messages carry, by digest (one query, only if any)."""
        digests = sorted(_blob_digests(rows))
        found: dict[str, bytes] = {}
        for start in range(0, len(digests), 500):
            chunk = digests[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for digest, data in self._read(f"SELECT digest, data FROM blobs WHERE digest IN ({marks})", chunk):
                found[digest] = bytes(data)
        return found

    def ordinals(self, conv_id: int) -> dict[int, int]:
        """Message id -> its number in the conversation (`#3`): its rank among every message stored
        there, compacted ones included, in the order they were stored. Stable across restarts and
        resumes; a summary /compact inserts takes the next number instead of shifting the rest."""
        rows = self._read("SELECT id FROM messages WHERE conv_id = ? ORDER BY id", (conv_id,))
        return {row[0]: rank for rank, row in enumerate(rows, start=1)}

    def ordinal(self, msg_id: int) -> int | None:
        """The number `ordinals` gives one message (None: not stored)."""
        rows = self._read(
            "SELECT COUNT(*) FROM messages WHERE id <= ? AND conv_id = (SELECT conv_id FROM messages WHERE id = ?)",
            (msg_id, msg_id),
        )
        return rows[0][0] or None

    @retry_if_rebuilt
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
        if conv.settings.canonical():
            meta.append(f"- Settings: {conv.settings.describe()}")
        out += meta + [""]
        if conv.system:
            out += ["## System prompt", "", _quote(conv.system), ""]
        for msg in self.messages(conv_id, include_compacted=include_compacted):
            out += [_message_heading(msg), ""]
            flags = []
            if msg.pinned:
                flags.append("pinned")
            if msg.cached:
                flags.append("cached: answered from the response cache, not asked again")
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
            files = [f"- attached: `{a.path}` ({a.mime}, {a.size:,} bytes)" for a in msg.attachments]
            files += [f"- image saved: `{i.path}`" for i in msg.images]
            if files:
                out += [""] + files
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
    if msg.thoughts_tokens:
        tokens.append(f"{msg.thoughts_tokens:,} thinking")
    if tokens:
        parts.append(" / ".join(tokens) + " tokens")
    if msg.cached:
        parts.append("cached")
    elif msg.latency_s is not None:
        parts.append(f"{msg.latency_s:.1f} s")
    return f"### {' · '.join(parts)} · {when}"
