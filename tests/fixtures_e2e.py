"""Shared pieces of the end-to-end tests: one simulated time for gemtui and the emulator."""

from __future__ import annotations

import pytest

from gemtui.chat.sender import Request
from gemtui.gemini.client import make_client
from gemtui.quota.engine import QuotaEngine
from gemtui.turns import Turn
from tests.clocks import SharedClock

PROJECT = "proj-shared"  # the project the end-to-end tests' emulator keys belong to


@pytest.fixture
def shared_clock(emulator, emulator_clock):
    emulator_clock.running = False
    return SharedClock(emulator_clock)


@pytest.fixture
def engine_factory(shared_clock, tmp_path):
    """New engines on one ledger file (a restart is a new engine on the same file)."""
    engines: list[QuotaEngine] = []

    def build(**kwargs) -> QuotaEngine:
        kwargs.setdefault("tier", "free")
        engine = QuotaEngine(clock=shared_clock, ledger_path=tmp_path / "ledger.sqlite3", **kwargs)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


async def collect(agen) -> list:
    return [event async for event in agen]


def ask(text: str, preference: str = "auto", **kwargs) -> Request:
    """A one-turn request with a short answer (the emulator sizes it from `[[tokens=N]]`)."""
    return Request(turns=[Turn("user", text + " [[tokens=12]]")], preference=preference, **kwargs)


@pytest.fixture
def client(emulator):
    """A real SDK client on the emulator."""
    return make_client("key-a", emulator.base_url)


def server(emulator, model: str, project: str = PROJECT) -> dict:
    """What the emulator counted for one model of one project (zeros before its first request)."""
    return emulator.counters().get(project, {}).get(model, {"accepted": 0, "rejected_429": 0})
