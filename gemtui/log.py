"""The one log of a gemtui process: a small rotating file in the state dir, never the terminal.

A full-screen app cannot print a traceback (it would land on top of the screen, or on the user's
shell after it), so every broad exception handler logs here with `logger.exception(...)` and shows
the user one line. Everything written passes `gemtui.errors.scrub` with the secrets this process
knows (`add_secrets`), tracebacks included: a key in an exception's text never reaches the disk.

Standard library only and nothing done at import: the CLI imports this before `--help` answers.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from gemtui.errors import known_secrets, register_secrets, scrub

__all__ = ["add_secrets", "flush", "get_logger", "known_secrets", "log_path", "setup", "stop"]

ROOT = "gemtui"
MAX_BYTES = 512 * 1024  # a log is for the last few sessions' troubles, not a history
BACKUPS = 2
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_handler: logging.Handler | None = None

# Until `setup` runs (gemtui used as a library, a test, a benchmark) records go nowhere rather than
# to logging's last-resort handler, which writes them on the terminal.
logging.getLogger(ROOT).addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger for a module (`get_logger(__name__)`), always under the "gemtui" tree."""
    return logging.getLogger(name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}")


def add_secrets(*secrets: str | None) -> None:
    """Remember strings that must never be written unmasked: the one registry `gemtui.errors.scrub`
    reads, so the log, the screen, the files and the stores hide the same secrets."""
    register_secrets(*secrets)


class ScrubbingFormatter(logging.Formatter):
    """Formats a record, traceback and stack included, then masks every secret in the result."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are readable by their owner only (0600)."""

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a file an older gemtui left with wider permissions
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def log_path() -> Path:
    from gemtui import paths

    return paths.log_file()


def setup(debug: bool = False, path: Path | None = None) -> Path:
    """Send this process's logging (gemtui's and its libraries') to the log file, and nowhere else.

    Called once by the CLI entry; calling it again (tests, another XDG dir) moves the one handler.
    Warnings (`warnings.warn`) and exceptions in threads go to the file too: on a full-screen app's
    terminal they would be garbage. Returns the log file's path.
    """
    global _handler
    path = Path(path) if path is not None else log_path()
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # a folder we do not own: the file's own 0600 still holds
        os.chmod(folder, 0o700)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(ScrubbingFormatter(FORMAT))
    root.addHandler(handler)
    _handler = handler
    root.setLevel(logging.WARNING)  # libraries: their warnings and errors only
    logging.raiseExceptions = False  # a full disk must not print logging's own traceback on the screen
    logging.getLogger(ROOT).setLevel(logging.DEBUG if debug else logging.INFO)
    logging.captureWarnings(True)
    if threading.excepthook is threading.__excepthook__:  # a test runner's own hook stays
        threading.excepthook = _log_thread_exception
    return path


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    get_logger("thread").error(
        "unhandled exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def flush() -> None:
    """Write out what is buffered (before the process exits with a pointer to the file)."""
    if _handler is not None:
        try:
            _handler.flush()
        except Exception:  # noqa: BLE001  (a full disk must not turn an exit into a crash)
            print("gemtui: could not write the log file", file=sys.stderr)


def stop() -> None:
    """Detach the file handler `setup` added (tests; a process simply exits)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
        _handler = None
    if threading.excepthook is _log_thread_exception:
        threading.excepthook = threading.__excepthook__
    logging.captureWarnings(False)
    logging.raiseExceptions = True
