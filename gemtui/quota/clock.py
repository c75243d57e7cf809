"""Time as a parameter: the engine reads an injectable clock, so a simulated hour runs in seconds.

All clocks speak wall-clock epoch seconds (floats), because RPD resets at a calendar instant
(midnight America/Los_Angeles) and several processes must agree on time through the ledger.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Runs `speed` times faster than real time from `epoch` on (benchmarks: 60 simulated minutes in one)."""

    def __init__(self, speed: float, epoch: float | None = None) -> None:
        self.speed = speed
        self.epoch = time.time() if epoch is None else epoch
        self._real_start = time.monotonic()

    def now(self) -> float:
        return self.epoch + (time.monotonic() - self._real_start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
