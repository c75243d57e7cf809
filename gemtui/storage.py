"""The one way gemtui opens a sqlite store (sessions, queue, quota ledger).

A store is a file the user never edits by hand and must never lose silently. Opening one: the folder is
made 0700 and the file (and its -wal/-shm) 0600; busy timeout and WAL let several gemtui processes share
it; `PRAGMA quick_check` reads every page; the schema script runs, then the versioned migrations the file
has not had yet (`PRAGMA user_version`), in one write transaction; the tables are checked for the columns
this gemtui needs. A file that fails any of this (not a database, a damaged page, a wrong schema, a newer
version this one cannot use) is moved aside with its -wal/-shm to `<name>.corrupt-<UTC stamp>` next to it,
a fresh store is created, and one warning line names the file and where the old one went.

Corruption met later, by a statement (`database disk image is malformed`), is healed the same way by
`Store.execute` (which then runs the statement once more, on the fresh file) and `Store.transaction`
(which raises `StoreRebuilt`; `retry_if_rebuilt` runs the store method once more).

Warnings go to the store's `warnings` list, to the log, and to every listener (`add_listener`): the CLI
prints them on stderr, the TUI shows them as notices.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from gemtui.diskfull import is_write_failure
from gemtui.log import get_logger

logger = get_logger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
SIDE_SUFFIXES = ("-wal", "-shm")
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)

Migration = tuple[int, Callable[[sqlite3.Connection], None]]
T = TypeVar("T")


@dataclass(frozen=True)
class Schema:
    """What a store's file must hold. `script` creates what is missing (IF NOT EXISTS); `migrations`
    are (version, step) pairs run in order for every version above the file's; `required` lists the
    columns each table must have, so a file of another shape is told apart from an old one."""

    label: str  # how warnings name the store: "sessions file"
    script: str
    version: int
    migrations: tuple[Migration, ...] = ()
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)
    consequence: str = ""  # what the user loses when it is rebuilt, said in the warning
    foreign_keys: bool = False


@dataclass(frozen=True)
class Result:
    """What a statement gave: its rows (all read), the rows it changed, the id it inserted."""

    rows: list[Any]
    rowcount: int
    lastrowid: int | None

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return list(self.rows)

    def __iter__(self) -> Iterator[Any]:  # like a cursor, so `for row in store.execute(...)` reads the rows
        return iter(self.rows)


class StoreRebuilt(sqlite3.DatabaseError):
    """A statement met corruption; the file was moved aside and a fresh one opened. Run it again."""


class _Unusable(Exception):
    """The file cannot serve as this store (the reason is one line for the warning)."""


# ---- listeners ------------------------------------------------------------------------------------

_listeners: list[Callable[[str], None]] = []
_listeners_lock = threading.Lock()


def add_listener(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(line)` for every store warning from now on; returns the function that stops it."""
    with _listeners_lock:
        _listeners.append(callback)

    def remove() -> None:
        with _listeners_lock, contextlib.suppress(ValueError):
            _listeners.remove(callback)

    return remove


def announce(line: str) -> None:
    """Tell every listener a warning line (stores, and the quota ledger going local)."""
    _announce(line)


def _announce(line: str) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for callback in listeners:
        try:
            callback(line)
        except Exception:  # noqa: BLE001  (a broken listener must not stop the store)
            logger.exception("a store warning listener failed")


# ---- files and folders ----------------------------------------------------------------------------


def private_folder(folder: Path) -> Path:
    """Create `folder` and every missing folder above it, each 0700; an existing one keeps its mode (it
    may be the user's, or shared like /tmp with its sticky bit)."""
    missing = []
    current = folder
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True, mode=FOLDER_MODE)
        with contextlib.suppress(OSError):
            os.chmod(path, FOLDER_MODE)  # mkdir's mode passes through the umask
    return folder


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Give an existing file this mode (files an older gemtui left readable by others)."""
    with contextlib.suppress(OSError):
        if path.exists() and (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary file, then rename), readable by its owner only."""
    private_folder(path.parent)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)


def _create_private(path: Path) -> None:
    """Make the database file 0600 before sqlite opens it; sqlite gives -wal/-shm the same mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    tighten(path)
    for suffix in SIDE_SUFFIXES:
        tighten(path.with_name(path.name + suffix))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def is_corruption(exc: BaseException) -> bool:
    """A damaged or foreign file, as opposed to a busy one, a constraint, or a programming error."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, StoreRebuilt):
        return False
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# ---- migrations -----------------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection, version: int, migrations: tuple[Migration, ...]) -> int:
    """Bring the file to `version` in one write transaction; returns the version it had.

    A file from a newer gemtui is left alone here (the caller checks it still has what this one needs).
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have just done it
        _run_steps(conn, found, version, migrations)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


def _run_steps(conn: sqlite3.Connection, found: int, version: int, migrations: tuple[Migration, ...]) -> None:
    for step_version, step in migrations:
        if found < step_version <= version:
            step(conn)
    if found < version:
        conn.execute(f"PRAGMA user_version = {int(version)}")


def _statements(script: str) -> list[str]:
    """A schema script's statements (executescript would commit the transaction they must run in)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def missing_columns(conn: sqlite3.Connection, required: Mapping[str, frozenset[str]]) -> list[str]:
    """`table.column` for every required column the file lacks."""
    missing = []
    for table, columns in required.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        missing += [f"{table}.{name}" for name in sorted(columns - present)]
    return missing


# ---- the store ------------------------------------------------------------------------------------


class Store:
    """One open sqlite store. Thread-safe within a process (one lock); shared between processes by WAL."""

    def __init__(
        self,
        path: Path | str,
        schema: Schema,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 5.0,
        warnings: list[str] | None = None,
        row_factory: Any = None,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.warnings = warnings if warnings is not None else []
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._row_factory = row_factory
        self.lock = threading.RLock()
        self.depth = 0  # transactions open through `transaction`
        self._identity: tuple[int, int] | None = None  # the file this store opened (device, inode)
        private_folder(self.path.parent)
        self.conn = self._open_or_rebuild()

    # ---- opening ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        _create_private(self.path)
        self._identity = _identity(self.path)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        for suffix in SIDE_SUFFIXES:
            tighten(self.path.with_name(self.path.name + suffix))
        if self._row_factory is not None:
            conn.row_factory = self._row_factory
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
                check = conn.execute("PRAGMA quick_check").fetchone()
                if not check or check[0] != "ok":
                    raise _Unusable(f"integrity check: {check[0] if check else 'no answer'}")
                self._shape(conn)
                # WAL only once the file is known to be this store's: a file set aside keeps its bytes.
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA synchronous = NORMAL")
                if self.schema.foreign_keys:
                    conn.execute("PRAGMA foreign_keys = ON")
                break
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):  # another process creating the file at this moment: wait, as busy_timeout would
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
                    continue
                if is_write_failure(exc):
                    raise  # a full or read-only disk: the file is sound, setting it aside would lose it
                raise _Unusable(f"its tables are not the ones gemtui expects: {exc}") from None
            except sqlite3.DatabaseError as exc:
                if is_write_failure(exc):
                    raise
                raise _Unusable(str(exc)) from None
        if mode is None or str(mode[0]).lower() != "wal":
            self._warn(f"{self.schema.label} {self.path}: WAL mode unavailable ({mode and mode[0]})")

    def _shape(self, conn: sqlite3.Connection) -> None:
        """Create what is missing and run the migrations the file has not had, in one write transaction
        that is rolled back if the result still lacks a required column (the file is then not touched)."""
        schema = self.schema
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found >= schema.version:
            missing = missing_columns(conn, schema.required)
            if missing:
                newer = f"written by a newer gemtui (schema {found}); " if found > schema.version else ""
                raise _Unusable(f"{newer}its tables are not the ones gemtui expects: no {', '.join(missing)}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have just done it
            if found < schema.version:
                for statement in _statements(schema.script):
                    conn.execute(statement)
                _run_steps(conn, found, schema.version, schema.migrations)
            missing = missing_columns(conn, schema.required)
            if missing:
                raise _Unusable(f"its tables are not the ones gemtui expects: no {', '.join(missing)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _open_or_rebuild(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except _Unusable as exc:
            self._rebuilt(str(exc))
            return self._connect()

    def _rebuilt(self, reason: str) -> None:
        if _identity(self.path) != self._identity:
            # Another gemtui process met the damage first, set the file aside and started a new one.
            self._warn(
                f"{self.schema.label} {self.path} could not be used ({' '.join(reason.split())}); another "
                "gemtui process has already moved it aside and started a new one"
            )
            return
        aside = self.move_aside()
        reason = " ".join(reason.split())  # one line, whatever sqlite said
        line = (
            f"{self.schema.label} {self.path} could not be used ({reason}); moved it to {aside} "
            f"and started a new one{self.schema.consequence}"
        )
        self._warn(line)

    def _warn(self, line: str) -> None:
        self.warnings.append(line)
        logger.warning("%s", line)
        _announce(line)

    def move_aside(self) -> Path:
        """Rename the file and its -wal/-shm to `<name>.corrupt-<UTC stamp>[-n]`; returns the new path."""
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, aside)
        for suffix in SIDE_SUFFIXES:
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                with contextlib.suppress(OSError):
                    os.replace(side, aside.with_name(aside.name + suffix))
        return aside

    def heal(self, exc: BaseException) -> None:
        """Corruption found by a statement: move the file aside and open a fresh one, as at opening."""
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self._rebuilt(str(exc))
            self.conn = self._connect()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ---- statements ------------------------------------------------------------------------------

    def execute(self, sql: str, params: Any = ()) -> Result:
        """One statement, its rows read at once (a damaged page may show only while they are read);
        corruption heals the store and runs it once more on the fresh file."""
        with self.lock:
            try:
                return self._run(sql, params)
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc) or self.depth:
                    raise
                self.heal(exc)
                return self._run(sql, params)

    def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return self.execute(sql, params).rows

    def _run(self, sql: str, params: Any) -> Result:
        cursor = self.conn.execute(sql, params)
        rows = cursor.fetchall()
        return Result(rows, cursor.rowcount, cursor.lastrowid)

    @contextlib.contextmanager
    def transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction (`BEGIN mode`); nested calls join the outer one. Corruption inside it heals the
        store and raises `StoreRebuilt` (see `retry_if_rebuilt`)."""
        with self.lock:
            conn = self.conn
            if conn.in_transaction and self.depth:
                yield conn
                return
            conn.execute(f"BEGIN {mode}")
            self.depth += 1
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self.depth -= 1
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if is_corruption(exc) and conn is self.conn:
                    self.heal(exc)
                    raise StoreRebuilt(str(exc)) from exc
                raise
            except BaseException:
                self.depth -= 1
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            else:
                self.depth -= 1


def retry_if_rebuilt(method: Callable[..., T]) -> Callable[..., T]:
    """Run a store method once more when its transaction met corruption and the store was rebuilt.

    The object needs a `_store` attribute; inside an outer transaction the error goes up to it instead."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except StoreRebuilt:
            if self._store.depth:
                raise
            return method(self, *args, **kwargs)

    return wrapper
