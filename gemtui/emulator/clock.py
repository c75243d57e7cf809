"""Emulator time: a scaled wall clock or an injected one, plus the Pacific-day arithmetic RPD needs.

Time is a parameter (design principle 4): quota windows read `EmuClock.now()`, never `time.time()`, so a test
can jump across a minute or a Pacific midnight without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


class EmuClock:
    """Emulator seconds since the epoch: `clock()` if given, else `epoch + real elapsed * speed`."""

    def __init__(
        self, speed: float = 1.0, epoch: float | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._external = clock
        self._epoch = time.time() if epoch is None else float(epoch)
        self._t0 = time.monotonic()

    def now(self) -> float:
        if self._external is not None:
            return float(self._external())
        return self._epoch + (time.monotonic() - self._t0) * self.speed

    def real_seconds(self, emu_seconds: float) -> float:
        """How long to really sleep for `emu_seconds` of emulator time."""
        return max(0.0, emu_seconds) / self.speed


class ManualClock:
    """A settable clock for tests: frozen at `t`, or running at real speed from `t` when `running`.

    Pass it as `Emulator(clock=ManualClock(...))`; `set()`/`advance()` move it, thread-safely.
    """

    def __init__(self, t: float | None = None, running: bool = False) -> None:
        self._lock = threading.Lock()
        self._base = time.time() if t is None else float(t)
        self._mark = time.monotonic()
        self._running = running

    def __call__(self) -> float:
        with self._lock:
            if self._running:
                return self._base + (time.monotonic() - self._mark)
            return self._base

    def set(self, t: float, running: bool | None = None) -> None:
        with self._lock:
            self._base = float(t)
            self._mark = time.monotonic()
            if running is not None:
                self._running = running

    def advance(self, seconds: float) -> None:
        now = self()
        self.set(now + seconds)

    @property
    def running(self) -> bool:
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        self.set(self(), running=value)


def minute_index(t: float) -> int:
    """Fixed per-minute windows are aligned to the emulator clock's minute boundaries."""
    return int(t // 60)


def minute_end(t: float) -> float:
    return (minute_index(t) + 1) * 60.0


def pacific_day(t: float) -> dt.date:
    return dt.datetime.fromtimestamp(t, PACIFIC).date()


def next_pacific_midnight(t: float) -> float:
    """Epoch seconds of the next midnight in Los Angeles; DST days are 23 or 25 hours long."""
    day = pacific_day(t) + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=PACIFIC).timestamp()


def pacific_day_start(t: float) -> float:
    day = pacific_day(t)
    return dt.datetime(day.year, day.month, day.day, tzinfo=PACIFIC).timestamp()
