"""Shared pieces of the end-to-end tests: one simulated time for gemtui and the emulator."""

from __future__ import annotations

import asyncio

import pytest

from gemtui.quota.engine import QuotaEngine


class SharedClock:
    """gemtui's engine clock driving the emulator's ManualClock: a wait advances both at once, so a
    test crosses minutes (and midnights) instantly while both sides of the wire agree on the time."""

    def __init__(self, manual, settle_s: float = 0.0) -> None:
        self.manual = manual
        # Real seconds to let requests already in flight reach the server before time jumps
        # (only concurrent tests need it: in real life time never jumps past a request on the wire).
        self.settle_s = settle_s

    def now(self) -> float:
        return self.manual()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.settle_s)
        if seconds > 0:
            self.manual.advance(seconds)
        await asyncio.sleep(0)


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
