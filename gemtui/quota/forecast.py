"""When a line of requests will have been admitted: the batch ETA, quota waits included.

Each model is a lane that admits at most `per_window` requests in any window (the tighter of its RPM
and of its TPM over the requests' typical input tokens), at most `day_left` more before Pacific
midnight, and none while the server has it blocked. With the rows already in the window, the next
request on a lane may go once the request `per_window` places before it has left the window — the
same sliding window admission uses — so the lane's schedule is its existing rows followed by the new
admissions, each one window after the one `per_window` ahead of it.

Over several models (auto) each request is routed the way `gemtui.chat.router.decide` would at
that instant: the preferred model if it has room, or if its wait is within the threshold (always,
under the `wait` policy); otherwise the first fallback with room; otherwise whichever frees first.
At most `concurrency` requests are in flight, each taking `answer_s`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

DAY_S = 86_400.0


@dataclass
class Lane:
    """One model's room, as the engine sees it now (times are epoch seconds)."""

    model: str
    per_window: int | None  # requests per window; None: unlimited
    window_s: float
    starts: Sequence[float] = ()  # requests already in the window, oldest first
    not_before: float = 0.0  # blocked until
    day_left: int | None = None  # requests left before `day_end`; None: unlimited
    day_end: float = math.inf  # the next Pacific midnight
    day_limit: int | None = None  # requests per day after it
    _recent: deque[float] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        # Only the last `per_window` admissions decide when the next one fits.
        keep = self.per_window or 0
        self._recent = deque(sorted(self.starts)[-keep:] if keep else (), maxlen=keep or None)

    @property
    def closed(self) -> bool:
        """Admits nothing, ever (a limit of 0)."""
        return self.per_window == 0 or (self.day_left is not None and self.day_left <= 0 and self.day_limit == 0)

    def next_at(self, after: float) -> float:
        """The earliest instant >= `after` this lane admits one more request."""
        if self.closed:
            return math.inf
        t = max(after, self.not_before)
        k = self.per_window
        if k is not None and len(self._recent) >= k:
            t = max(t, self._recent[-k] + self.window_s)
        if self.day_left is not None and self.day_left <= 0:
            t = max(t, self.day_end)
        return t

    def admit(self, t: float) -> None:
        if self.day_left is not None:
            while t >= self.day_end:  # a new Pacific day: its full daily limit
                self.day_left, self.day_end = self.day_limit, self.day_end + DAY_S
                if self.day_left is None:
                    break
            if self.day_left is not None:
                self.day_left -= 1
        if self.per_window is not None:
            self._recent.append(t)


def admission_times(
    lanes: Sequence[Lane],
    count: int,
    now: float,
    *,
    policy: str = "switch",
    threshold_s: float = 20.0,
    concurrency: int | None = None,
    answer_s: float = 0.0,
    in_flight: Sequence[float] = (),
) -> list[tuple[float, str]]:
    """(instant, model) at which each of the next `count` requests goes, in line order.

    `lanes` are in fallback order, the preferred model first; `in_flight` are the instants the
    requests already sent will finish. An instant is `math.inf` when no lane can ever take it."""
    out: list[tuple[float, str]] = []
    finishing = sorted(in_flight)
    tau = now
    for _ in range(count):
        if concurrency is not None and len(finishing) >= concurrency:
            tau = max(tau, finishing[len(finishing) - concurrency])  # a slot frees when that one ends
        times = [lane.next_at(tau) for lane in lanes]
        pick = _route(times, tau, policy, threshold_s)
        at = times[pick]
        if not math.isfinite(at):
            out.extend([(math.inf, "")] * (count - len(out)))
            break
        lanes[pick].admit(at)
        out.append((at, lanes[pick].model))
        finishing.append(at + answer_s)
        finishing.sort()
        tau = at
    return out


def _route(times: Sequence[float], tau: float, policy: str, threshold_s: float) -> int:
    """Which lane the router would pick at `tau` (see the module doc)."""
    first = times[0]
    if first <= tau or len(times) == 1:
        return 0
    if math.isfinite(first) and (policy == "wait" or first - tau <= threshold_s):
        return 0
    for index, at in enumerate(times[1:], start=1):
        if at <= tau:
            return index
    return min(range(len(times)), key=lambda i: (times[i], i))
