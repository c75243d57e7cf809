"""Shared test setup: every test writes only under its own temporary XDG folders."""

from __future__ import annotations

import pytest

# Fixture modules owned by each part of the project (emulator, keyring service, ...).
pytest_plugins = [
    "tests.fixtures_emulator",
    "tests.fixtures_keyring",
    "tests.fixtures_e2e",
    "tests.fixtures_redis",
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
    for var in (
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GEMTUI_PROFILE",
        "GEMTUI_LEDGER_URL",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "xdg"


@pytest.fixture(autouse=True)
def default_model_aliases():
    """`pro`/`flash`/`lite` are process-wide once resolved: each test starts and ends on the 2.5 models."""
    from gemtui.chat.router import use_route
    from gemtui.quota.limits import use_aliases

    use_aliases({})
    use_route(None)
    yield
    use_aliases({})
    use_route(None)


@pytest.fixture(autouse=True)
def fresh_secret_registry():
    """The secret registry lives as long as the process: each test starts as a new process would, so
    a value one test registered (a relay's query token) is not masked in the next test's output."""
    from gemtui.errors import forget_secrets

    forget_secrets()
    yield
    forget_secrets()
