"""Every file gemtui writes lives under platformdirs' per-user folders for "gemtui".

Functions rather than constants: XDG variables are read on each call, so tests (and users) can
redirect a whole run by setting XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_STATE_HOME / XDG_CACHE_HOME.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "gemtui"


def _ensure(path: str) -> Path:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
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
