"""The emulator's own tier table and the quota ids/metrics its 429 bodies name.

Figures come from the wire reference (Google's table of December 2025); rows the reference does not give
(flash tier 2/3, the image model, 2.0 models) are plausible values, marked below. `None` means unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

TIERS = ("free", "tier1", "tier2", "tier3")
DIMENSIONS = ("rpm", "tpm", "rpd", "ipm")


@dataclass(frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None
    rpd: int | None
    ipm: int | None = None  # None: the model makes no images, IPM does not apply

    def get(self, dim: str) -> int | None:
        return getattr(self, dim)

    def with_overrides(self, **values: int | None) -> Limits:
        return replace(self, **values)


# family -> tier -> limits
TABLE: dict[str, dict[str, Limits]] = {
    "pro": {
        "free": Limits(5, 250_000, 100),
        "tier1": Limits(150, 2_000_000, 10_000),
        "tier2": Limits(1_000, 8_000_000, None),
        "tier3": Limits(2_000, 16_000_000, None),
    },
    "flash": {
        "free": Limits(15, 1_000_000, 500),
        "tier1": Limits(1_000, 4_000_000, None),
        "tier2": Limits(2_000, 8_000_000, None),  # assumed
        "tier3": Limits(10_000, 16_000_000, None),  # assumed
    },
    "flash-lite": {
        "free": Limits(15, 250_000, 1_000),
        "tier1": Limits(4_000, 4_000_000, None),
        "tier2": Limits(10_000, 10_000_000, None),  # assumed
        "tier3": Limits(30_000, 30_000_000, None),  # assumed
    },
    "flash-image": {  # assumed except IPM 0 (free) and 10 (tier 1)
        "free": Limits(10, 250_000, 100, ipm=0),
        "tier1": Limits(500, 500_000, 2_000, ipm=10),
        "tier2": Limits(1_000, 1_000_000, 10_000, ipm=50),
        "tier3": Limits(2_000, 2_000_000, None, ipm=100),
    },
    "flash-2.0": {  # assumed
        "free": Limits(15, 1_000_000, 200),
        "tier1": Limits(2_000, 4_000_000, None),
        "tier2": Limits(10_000, 10_000_000, None),
        "tier3": Limits(30_000, 30_000_000, None),
    },
    "flash-2.0-lite": {  # assumed
        "free": Limits(30, 1_000_000, 200),
        "tier1": Limits(4_000, 4_000_000, None),
        "tier2": Limits(10_000, 10_000_000, None),
        "tier3": Limits(30_000, 30_000_000, None),
    },
}

_METRIC = "generativelanguage.googleapis.com/generate_content_{tier}_tier_{what}"

_FREE_IDS = {
    "rpm": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    "tpm": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    "rpd": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    "ipm": "GenerateContentImagesPerMinutePerProjectPerModel-FreeTier",
}
_PAID_IDS = {
    "rpm": "GenerateRequestsPerMinutePerProjectPerModel",
    "tpm": "GenerateContentPaidTierInputTokensPerModelPerMinute",
    "rpd": "GenerateRequestsPerDayPerProjectPerModel",
    "ipm": "GenerateContentPaidTierImagesPerMinutePerProjectPerModel",
}
_WHAT = {"rpm": "requests", "rpd": "requests", "tpm": "input_token_count", "ipm": "images"}


def quota_id(dim: str, tier: str) -> str:
    return (_FREE_IDS if tier == "free" else _PAID_IDS)[dim]


def quota_metric(dim: str, tier: str) -> str:
    return _METRIC.format(tier="free" if tier == "free" else "paid", what=_WHAT[dim])


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    return tier
