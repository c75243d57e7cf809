"""What an OpenAI-compatible server says about its limits in `x-ratelimit-*` headers, as ledger facts.

The limit becomes a learned limit of that dimension (shown with the source "server headers"); a spent
window (nothing remaining, or less than the request just made needed) blocks the dimension until the
server's reset, so admission waits for the window the server counts rather than meeting its 429.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

HEADER_SOURCE = "server headers"
NOT_STATED = "n/a"  # a dimension a server with rate-limit headers never states (requests per day)
MARK = "hdr:"  # a learned-limit row `hdr:<dim>` marks that dimension's learned limit as the headers' word

# The header names' dimensions, in the engine's terms: both windows are read as per-minute limits.
_DIMENSIONS = {"requests": "rpm", "tokens": "tpm"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# Beyond these a header is taken as nonsense, not a fact: a reset a week away (Retry-After's own cap) or a
# count no server keeps. Kept, a reset in the year 33715 broke every later read of the ledger.
MAX_RESET_S = 7 * 86400.0
MAX_COUNT = 10**15


@dataclass(frozen=True)
class HeaderFacts:
    """Per dimension ("rpm", "tpm"): the limit, what remains, seconds until the window resets."""

    limits: Mapping[str, int] = field(default_factory=dict)
    remaining: Mapping[str, int] = field(default_factory=dict)
    reset_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.limits or self.remaining)


def parse_duration(text: str | None) -> float | None:
    """ "1s", "6m0s", "20ms", "1h2m3.5s", or plain seconds ("12", "0.5") → seconds; None if unreadable."""
    if not text:
        return None
    text = text.strip().lower()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and 0 <= value <= MAX_RESET_S else None
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total = sum(float(n) * scale[u] for n, u in parts)
    return total if total <= MAX_RESET_S else None


def parse_headers(headers: Mapping[str, str]) -> HeaderFacts:
    """The `x-ratelimit-*` facts in a response's headers (names matched case-insensitively)."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    limits: dict[str, int] = {}
    remaining: dict[str, int] = {}
    reset: dict[str, float] = {}
    for name, dim in _DIMENSIONS.items():
        limit = _int(lower.get(f"x-ratelimit-limit-{name}"))
        left = _int(lower.get(f"x-ratelimit-remaining-{name}"))
        when = parse_duration(lower.get(f"x-ratelimit-reset-{name}"))
        if limit is not None:
            limits[dim] = limit
        if left is not None:
            remaining[dim] = left
        if when is not None:
            reset[dim] = when
    return HeaderFacts(limits, remaining, reset)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(float(text.strip()))
    except (ValueError, OverflowError):  # "inf" is a float, not a count
        return None
    return value if 0 <= value <= MAX_COUNT else None


def spent(facts: HeaderFacts, dim: str, last_cost: int) -> bool:
    """Whether the server's window for `dim` cannot take another request like the one just made."""
    left = facts.remaining.get(dim)
    if left is None:
        return False
    return left <= 0 if dim == "rpm" else left < max(1, last_cost)
