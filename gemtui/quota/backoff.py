"""Exponential backoff with full jitter for failures that teach nothing about quota.

A bare 429 (no QuotaFailure details: capacity or a shared pool) and 5xx/transport failures say nothing about
which limit was hit, so they change no quota state; they only space retries out. Full jitter (a uniform draw
in [0, ceiling)) keeps several clients that failed together from retrying together.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass

Random = Callable[[], float]  # returns a float in [0, 1), e.g. random.random; injectable for tests


@dataclass(frozen=True)
class Backoff:
    """`attempt` counts failures so far (1 after the first); `max_attempts` None means never give up."""

    base_s: float
    cap_s: float
    max_attempts: int | None = None

    def ceiling(self, attempt: int) -> float:
        exponent = min(max(attempt, 1) - 1, 30)  # 2**30 × base is far past any cap: no float overflow
        return min(self.cap_s, self.base_s * 2.0**exponent)

    def delay(self, attempt: int, random: Random | None = None) -> float:
        return (random or _random.random)() * self.ceiling(attempt)

    def exhausted(self, attempt: int) -> bool:
        return self.max_attempts is not None and attempt >= self.max_attempts


BARE_429 = Backoff(base_s=2.0, cap_s=60.0, max_attempts=8)
TRANSIENT = Backoff(base_s=1.0, cap_s=30.0, max_attempts=5)
