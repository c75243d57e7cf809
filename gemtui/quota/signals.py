"""What a 429 says, in the engine's own terms (built by gemini/ from the SDK error, applied by the engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Dimension = Literal["rpm", "tpm", "rpd", "ipm", "tpd"]


@dataclass(frozen=True)
class Violation:
    """One QuotaFailure violation (or the message's "Quota exceeded for metric" line)."""

    dimension: Dimension
    limit: int | None = None  # quotaValue: the server's limit for this dimension
    free_tier: bool | None = None  # True when the quotaId/metric says FreeTier
    model: str | None = None  # quotaDimensions.model
    quota_id: str = ""


@dataclass(frozen=True)
class QuotaHit:
    """A classified 429. `violations` empty means a bare 429 (capacity/shared pool): no quota evidence."""

    violations: tuple[Violation, ...] = field(default_factory=tuple)
    retry_delay_s: float | None = None

    @property
    def is_bare(self) -> bool:
        return not self.violations

    @property
    def per_day(self) -> bool:
        return any(v.dimension in ("rpd", "tpd") for v in self.violations)
