"""Pacific calendar days: RPD resets at midnight America/Los_Angeles, so day boundaries follow its DST rules.

Days are 24 hours most of the year, 23 hours on the spring-forward Sunday and 25 on the fall-back Sunday;
computing midnights through zoneinfo (never by adding 86,400 s) keeps the reset instant right on both.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific_day(t: float) -> date:
    """The Pacific calendar date containing epoch instant `t` (a midnight belongs to the day it starts)."""
    return datetime.fromtimestamp(t, PACIFIC).date()


def midnight_of(day: date) -> float:
    """Epoch seconds of the Pacific midnight starting `day` (never in a DST gap: those are at 02:00)."""
    return datetime.combine(day, time(0), PACIFIC).timestamp()


def day_start(t: float) -> float:
    """Epoch seconds of the Pacific midnight that started the day containing `t`."""
    return midnight_of(pacific_day(t))


def next_midnight(t: float) -> float:
    """Epoch seconds of the first Pacific midnight strictly after `t` (when RPD counters reset)."""
    return midnight_of(pacific_day(t) + timedelta(days=1))


def day_length_s(day: date) -> float:
    """Length of a Pacific calendar day in seconds: 82,800, 86,400 or 90,000."""
    return midnight_of(day + timedelta(days=1)) - midnight_of(day)


def day_start_ms(t_ms: int) -> int:
    return round(day_start(t_ms / 1000) * 1000)


def next_midnight_ms(t_ms: int) -> int:
    return round(next_midnight(t_ms / 1000) * 1000)
