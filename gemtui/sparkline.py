"""Usage as one character per value (`··▁▃█`): the usage history in `gemtui quota` and on the /quota screen."""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_ZERO = "·"


def sparkline(values: Sequence[float], zero: str = SPARK_ZERO) -> str:
    """One character per value, scaled to the largest: `··▁▃█`. A zero is `zero`, any usage at
    least `▁`, so an idle day never looks like a quiet one."""
    top = max(values, default=0)
    if top <= 0:
        return zero * len(values)
    last = len(SPARK_BLOCKS) - 1
    return "".join(
        zero if v <= 0 else SPARK_BLOCKS[min(last, math.ceil(v / top * len(SPARK_BLOCKS)) - 1)] for v in values
    )
