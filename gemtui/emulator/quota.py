"""Per project-and-model usage in fixed windows, the way the emulator's server side books it.

Windowing model (deliberately not the client's rolling log): per-minute dimensions (RPM, TPM, IPM) count in
fixed windows aligned to the emulator clock's minute boundaries, so a window frees at the next whole minute;
RPD counts per Pacific calendar day and frees at Pacific midnight. A rejected request books nothing.
Callers hold the emulator's lock; this module does no locking of its own.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from gemtui.emulator.clock import (
    minute_end,
    minute_index,
    next_pacific_midnight,
    pacific_day,
    pacific_day_start,
)
from gemtui.emulator.limits import Limits


@dataclass
class Usage:
    minute: int = -1
    m_requests: int = 0
    m_tokens: int = 0
    m_images: int = 0
    day: dt.date | None = None
    d_requests: int = 0
    accepted: int = 0
    rejected_429: int = 0
    input_tokens_total: int = 0
    ghost_requests: int = 0

    def roll(self, now: float) -> None:
        idx = minute_index(now)
        if idx != self.minute:
            self.minute, self.m_requests, self.m_tokens, self.m_images = idx, 0, 0, 0
        day = pacific_day(now)
        if day != self.day:
            self.day, self.d_requests = day, 0


@dataclass
class Ghost:
    """Another client on the project: one request every `interval` emulator seconds from `start`."""

    start: float
    interval: float
    input_tokens: int
    done: int = 0  # events already booked (event k happens at start + k * interval, k >= 1)

    def events_upto(self, t: float) -> int:
        return max(0, math.floor((t - self.start) / self.interval + 1e-9))

    def first_event_at_or_after(self, t: float) -> int:
        return max(1, math.ceil((t - self.start) / self.interval - 1e-9))


@dataclass(frozen=True)
class Violation:
    dim: str  # rpm, tpm, rpd, ipm
    limit: int
    retry_after: float  # emulator seconds until that window frees


@dataclass
class QuotaBook:
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)
    ghosts: dict[tuple[str, str], Ghost] = field(default_factory=dict)

    def _current(self, project: str, model: str, now: float) -> Usage:
        u = self.usage.setdefault((project, model), Usage())
        u.roll(now)
        ghost = self.ghosts.get((project, model))
        if ghost is not None:
            self._book_ghost(u, ghost, now)
        return u

    @staticmethod
    def _book_ghost(u: Usage, g: Ghost, now: float) -> None:
        n = g.events_upto(now)
        if n <= g.done:
            return
        minute_start = minute_index(now) * 60.0
        day_start = pacific_day_start(now)  # Pacific days are 23-25 h long: never "midnight - 86400"
        in_minute = n - max(g.done, g.first_event_at_or_after(minute_start) - 1)
        in_day = n - max(g.done, g.first_event_at_or_after(day_start) - 1)
        u.m_requests += max(0, in_minute)
        u.m_tokens += max(0, in_minute) * g.input_tokens
        u.d_requests += max(0, in_day)
        u.ghost_requests += n - g.done
        g.done = n

    def set_ghost(self, project: str, model: str, rpm: float, input_tokens: int, now: float) -> None:
        self._current(project, model, now)  # settle the old ghost first
        if rpm <= 0:
            self.ghosts.pop((project, model), None)
            return
        self.ghosts[(project, model)] = Ghost(start=now, interval=60.0 / rpm, input_tokens=input_tokens)

    def add_invisible(self, project: str, model: str, requests: int, input_tokens: int, now: float) -> None:
        u = self._current(project, model, now)
        u.m_requests += requests
        u.d_requests += requests
        u.m_tokens += input_tokens
        u.ghost_requests += requests

    def admit(self, project: str, model: str, limits: Limits, tokens: int, images: int, now: float) -> list[Violation]:
        """Books the request and returns [] if every window has room, else the violations (books nothing)."""
        u = self._current(project, model, now)
        found: list[Violation] = []
        to_minute = minute_end(now) - now
        checks = (
            ("rpm", u.m_requests + 1, to_minute),
            ("tpm", u.m_tokens + tokens, to_minute),
            ("rpd", u.d_requests + 1, next_pacific_midnight(now) - now),
            ("ipm", u.m_images + images, to_minute),
        )
        for dim, wanted, retry in checks:
            limit = limits.get(dim)
            if limit is None or (dim == "ipm" and images == 0):
                continue
            if wanted > limit:
                found.append(Violation(dim, limit, retry))
        if found:
            u.rejected_429 += 1
            return found
        u.m_requests += 1
        u.d_requests += 1
        u.m_tokens += tokens
        u.m_images += images
        u.accepted += 1
        u.input_tokens_total += tokens
        return []

    def counters(self, now: float) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for project, model in list(self.usage) + [k for k in self.ghosts if k not in self.usage]:
            u = self._current(project, model, now)
            out.setdefault(project, {})[model] = {
                "rpm": u.m_requests,
                "tpm": u.m_tokens,
                "rpd": u.d_requests,
                "ipm": u.m_images,
                "accepted": u.accepted,
                "rejected_429": u.rejected_429,
                "input_tokens_total": u.input_tokens_total,
                "ghost_requests": u.ghost_requests,
            }
        return out

    def clear(self) -> None:
        self.usage.clear()
        self.ghosts.clear()
