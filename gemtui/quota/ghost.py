"""Invisible usage: a 429 while our own count was below the limit means other clients share the quota.

The engine then lowers the effective limit to what we had in the *server's* window when it refused us (the
other clients hold the rest), holds it there for HOLD_WINDOWS clean windows (no further 429 for that
dimension), then lets it climb back one step per clean window. Climbing at once would walk straight back
into the other client's share the next busy minute; the hold keeps such probes rare while the other client
stays (another program on the same project rarely leaves within half an hour). Recovery is a pure function
of time since the last hit, so the effective limit at any future instant is known and admission ETAs stay
exact; a new hit restarts the hold from the new value. A hit before the last lowering was forgotten (the
other client is still there) doubles the hold, so probing for its departure costs fewer and fewer 429s.
For RPD the lowering lasts until the Pacific midnight after the hit, when the server's day counter resets.
"""

from __future__ import annotations

import math

from gemtui.quota.ledger import Adjustment
from gemtui.quota.pacific import next_midnight_ms

RECOVERY_STEPS = 5  # once climbing, a lowered limit is back to nominal after at most this many windows
HOLD_WINDOWS = 30  # clean windows a lowered limit holds before it starts to climb (first strike)
MAX_STRIKES = 6  # the hold doubles per strike up to 2**5 = 32 times the first


def hold_windows(adjustment: Adjustment) -> int:
    return HOLD_WINDOWS * 2 ** (min(max(adjustment.strikes, 1), MAX_STRIKES) - 1)


def recovery_step(nominal: int) -> int:
    return max(1, math.ceil(nominal / RECOVERY_STEPS))


def lowered_limit_at(dimension: str, nominal: int | None, adjustment: Adjustment | None, t_ms: int,
                     window_ms: int) -> int | None:
    """The effective limit at `t_ms` given a lowering (None nominal = unlimited: nothing to lower)."""
    if nominal is None or adjustment is None:
        return nominal
    if dimension == "rpd":
        if t_ms < next_midnight_ms(adjustment.at_ms):
            return min(nominal, adjustment.lowered_to)
        return nominal
    windows = max(0, (t_ms - adjustment.at_ms) // window_ms - hold_windows(adjustment))
    return min(nominal, adjustment.lowered_to + windows * recovery_step(nominal))


def change_times(dimension: str, nominal: int | None, adjustment: Adjustment | None, now_ms: int,
                 window_ms: int) -> list[int]:
    """Instants after `now_ms` at which the effective limit rises (until it is back to nominal)."""
    if nominal is None or adjustment is None or adjustment.lowered_to >= nominal:
        return []
    if dimension == "rpd":
        end = next_midnight_ms(adjustment.at_ms)
        return [end] if end > now_ms else []
    step = recovery_step(nominal)
    needed = math.ceil((nominal - adjustment.lowered_to) / step)
    hold = hold_windows(adjustment)
    times = [adjustment.at_ms + (hold + k) * window_ms for k in range(1, needed + 1)]
    return [t for t in times if t > now_ms]


def is_recovered(dimension: str, nominal: int | None, adjustment: Adjustment, now_ms: int,
                 window_ms: int) -> bool:
    limit = lowered_limit_at(dimension, nominal, adjustment, now_ms, window_ms)
    return limit is None or nominal is None or limit >= nominal


def is_forgotten(dimension: str, nominal: int | None, adjustment: Adjustment, now_ms: int, window_ms: int) -> bool:
    """Recovered, and clean for as long again as the hold: the other client has gone, strikes start over."""
    if nominal is None or dimension == "rpd":
        return is_recovered(dimension, nominal, adjustment, now_ms, window_ms)
    changes = change_times(dimension, nominal, adjustment, adjustment.at_ms, window_ms)
    recovered_at = changes[-1] if changes else adjustment.at_ms
    return now_ms >= recovered_at + hold_windows(adjustment) * window_ms


def next_strike(previous: Adjustment | None) -> int:
    """Strikes for a new lowering: one more while the previous one is still remembered."""
    return 1 if previous is None else min(previous.strikes + 1, MAX_STRIKES)


def invisible(nominal: int | None, effective: int | None) -> int:
    """Usage we believe other clients hold: the gap between the published and the lowered limit."""
    if nominal is None or effective is None:
        return 0
    return max(0, nominal - effective)
