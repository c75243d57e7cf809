"""Every file gemtui writes lives under platformdirs' per-user folders for "gemtui".

Functions rather than constants: XDG variables are read on each call, so tests (and users) can
redirect a whole run by setting XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_STATE_HOME / XDG_CACHE_HOME.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "gemtui"


def _ensure(path: str) -> Path:
    """The per-app folder, made 0700 (and tightened to it when an older gemtui left it wider): its
    files are conversations, keys' usage and logs. The user's XDG root above it keeps its own mode."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        info = folder.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(folder, 0o700)
    return folder


def config_dir() -> Path:
    return _ensure(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return _ensure(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    return _ensure(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return _ensure(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def ledger_file() -> Path:
    return data_dir() / "ledger.sqlite3"


def sessions_file() -> Path:
    return data_dir() / "sessions.sqlite3"


def queue_file() -> Path:
    return data_dir() / "queue.sqlite3"


def log_file() -> Path:
    return state_dir() / "gemtui.log"


def response_cache_file() -> Path:
    return cache_dir() / "responses.sqlite3"
