"""Clocks for tests and benchmarks that move only when told to, so a simulated day runs in no time."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Moves only when told to; `sleep` advances it at once (unit tests)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


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
