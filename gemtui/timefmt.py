"""How waits, instants and periods are written for people: `0:42`, `21:03:12` local time, `Nov 03 – Dec 02`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime


def duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S")


def history_span(days: Sequence[str]) -> str:
    """`Nov 03 – Dec 02` for a list of ISO dates, oldest first."""
    if not days:
        return ""
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    return f"{first:%b %d} – {last:%b %d}"
