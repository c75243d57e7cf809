"""Shared test setup: every test writes only under its own temporary XDG folders."""

from __future__ import annotations

import pytest

# Fixture modules owned by each part of the project (emulator, keyring service, ...).
pytest_plugins = [
    "tests.fixtures_emulator",
    "tests.fixtures_keyring",
    "tests.fixtures_e2e",
]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point platformdirs at a private tree and clear the environment's keys and endpoints."""
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / sub))
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GEMTUI_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "xdg"
