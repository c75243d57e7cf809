"""Invisible usage: a 429 while our own count was below the limit means other clients share the quota.

The engine then lowers the effective limit to what we had in the *server's* window when it refused us (the
other clients hold the rest) and lets it climb back by additive steps, one per clean window (no further 429
for that dimension): each step is a probe, the first one a single request (RPM). Most surprises are one-off
(a script run once, a colleague's burst), so the first one costs a few minutes at most. Only a surprise that
repeats before the last lowering was forgotten (the other client is still there: another program on the
same project rarely leaves within half an hour) holds the lowered limit before climbing: REPEAT_HOLD_WINDOWS
clean windows, HOLD_GROWTH times longer on every further repeat, so probing for the departure of a client
that stays costs fewer and fewer 429s. Recovery is a pure function of time since the last hit, so the
effective limit at any future instant is known and admission ETAs stay exact; a new hit restarts from the
new value. For RPD the lowering lasts until the Pacific midnight after the hit, when the server's day
counter resets.
"""

from __future__ import annotations

import math

from gemtui.quota.ledger import Adjustment
from gemtui.quota.pacific import next_midnight_ms

RECOVERY_STEPS = 5  # once climbing, a lowered limit is back to nominal after at most this many windows
REPEAT_HOLD_WINDOWS = 30  # clean windows a lowered limit holds before climbing, on the first repeat
HOLD_GROWTH = 2  # each further repeat holds this many times longer
MAX_STRIKES = 6  # the hold stops growing here (30 * 2**4 windows: eight hours of one-minute windows)
FORGET_WINDOWS = 30  # clean windows at nominal after which a lowering is forgotten: the next hit is a first


def hold_windows(adjustment: Adjustment) -> int:
    """Clean windows before climbing: none after a first surprise, then longer each time it repeats."""
    strikes = min(max(adjustment.strikes, 1), MAX_STRIKES)
    return 0 if strikes == 1 else REPEAT_HOLD_WINDOWS * HOLD_GROWTH ** (strikes - 2)


def recovery_step(nominal: int) -> int:
    return max(1, math.ceil(nominal / RECOVERY_STEPS))


def first_step(dimension: str, nominal: int) -> int:
    """The first climb probes with one more request: several requests sent together into a window the other
    client still holds would each collect a 429. Token and image limits climb by whole steps."""
    return 1 if dimension == "rpm" else recovery_step(nominal)


def _climbed(dimension: str, nominal: int, lowered: int, windows: int) -> int:
    if windows <= 0:
        return min(nominal, lowered)
    return min(nominal, lowered + first_step(dimension, nominal) + (windows - 1) * recovery_step(nominal))


def _windows_to_recover(dimension: str, nominal: int, lowered: int) -> int:
    rest = nominal - lowered - first_step(dimension, nominal)
    return 1 + max(0, math.ceil(rest / recovery_step(nominal)))


def lowered_limit_at(
    dimension: str, nominal: int | None, adjustment: Adjustment | None, t_ms: int, window_ms: int
) -> int | None:
    """The effective limit at `t_ms` given a lowering (None nominal = unlimited: nothing to lower)."""
    if nominal is None or adjustment is None:
        return nominal
    if dimension == "rpd":
        if t_ms < next_midnight_ms(adjustment.at_ms):
            return min(nominal, adjustment.lowered_to)
        return nominal
    windows = max(0, (t_ms - adjustment.at_ms) // window_ms - hold_windows(adjustment))
    return _climbed(dimension, nominal, adjustment.lowered_to, windows)


def change_times(
    dimension: str, nominal: int | None, adjustment: Adjustment | None, now_ms: int, window_ms: int
) -> list[int]:
    """Instants after `now_ms` at which the effective limit rises (until it is back to nominal)."""
    if nominal is None or adjustment is None or adjustment.lowered_to >= nominal:
        return []
    if dimension == "rpd":
        end = next_midnight_ms(adjustment.at_ms)
        return [end] if end > now_ms else []
    needed = _windows_to_recover(dimension, nominal, adjustment.lowered_to)
    hold = hold_windows(adjustment)
    times = [adjustment.at_ms + (hold + k) * window_ms for k in range(1, needed + 1)]
    return [t for t in times if t > now_ms]


def is_recovered(dimension: str, nominal: int | None, adjustment: Adjustment, now_ms: int, window_ms: int) -> bool:
    limit = lowered_limit_at(dimension, nominal, adjustment, now_ms, window_ms)
    return limit is None or nominal is None or limit >= nominal


def is_forgotten(dimension: str, nominal: int | None, adjustment: Adjustment, now_ms: int, window_ms: int) -> bool:
    """Recovered, and clean for FORGET_WINDOWS (or the hold, if longer): the other client has gone, strikes
    start over."""
    if nominal is None or dimension == "rpd":
        return is_recovered(dimension, nominal, adjustment, now_ms, window_ms)
    changes = change_times(dimension, nominal, adjustment, adjustment.at_ms, window_ms)
    recovered_at = changes[-1] if changes else adjustment.at_ms
    return now_ms >= recovered_at + max(FORGET_WINDOWS, hold_windows(adjustment)) * window_ms


def next_strike(previous: Adjustment | None) -> int:
    """Strikes for a new lowering: one more while the previous one is still remembered."""
    return 1 if previous is None else min(previous.strikes + 1, MAX_STRIKES)


def invisible(nominal: int | None, effective: int | None) -> int:
    """Usage we believe other clients hold: the gap between the published and the lowered limit."""
    if nominal is None or effective is None:
        return 0
    return max(0, nominal - effective)
