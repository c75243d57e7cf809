"""A store that cannot be written (a full disk, a vanished or read-only folder) is told, never fatal.

What is being printed matters more than what is being kept: when a write to a store (sessions, queue, quota
ledger) fails, that store stops being written for the rest of the command, the failure is logged with its
traceback, and the command names what it could not save in one line at the end (`unsaved_line`), with its
own exit status. `note_unsaved` is the one place a store-write failure is recorded; `unsaved` lists them.
"""

from __future__ import annotations

import errno
import sqlite3
import threading

from gemtui.log import get_logger

logger = get_logger(__name__)

_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_SQLITE_WRITE_FAILURES = (
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "unable to open database file",
)

_lock = threading.Lock()
_unsaved: dict[str, str] = {}  # what could not be saved -> why, in the order they failed


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def is_write_failure(exc: BaseException) -> bool:
    """A failure of the disk under a store rather than a bug: any OSError, or sqlite saying its file is
    full, unwritable or gone."""
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(
        words in str(exc).lower() for words in _SQLITE_WRITE_FAILURES
    )


def why(exc: BaseException) -> str:
    """A few words for the failure: `disk full`, or the error itself on one line."""
    if is_disk_full(exc):
        return "disk full"
    text = " ".join((getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).split())
    return text[:120]


def note_unsaved(what: str, exc: BaseException) -> None:
    """`what` (e.g. `the conversation "work" (sessions.sqlite3)`) could not be written: remember it once."""
    with _lock:
        first = what not in _unsaved
        if first:
            _unsaved[what] = why(exc)
    if first:
        logger.error("could not save %s", what, exc_info=(type(exc), exc, exc.__traceback__))


def unsaved() -> list[tuple[str, str]]:
    with _lock:
        return list(_unsaved.items())


def clear() -> None:
    """Forget what was noted (a new command in the same process starts clean)."""
    with _lock:
        _unsaved.clear()


def unsaved_line() -> str | None:
    """`could not save the conversation "x" (sessions.sqlite3), the quota ledger (ledger.sqlite3): disk full`."""
    items = unsaved()
    if not items:
        return None
    reasons = {reason for _, reason in items}
    if len(reasons) == 1:
        return f"could not save {', '.join(what for what, _ in items)}: {reasons.pop()}"
    return "could not save " + ", ".join(f"{what} ({reason})" for what, reason in items)
