"""Published limits as data (model × tier → RPM, TPM, RPD, IPM), overridden by config and by what 429s teach.

Google changes these numbers; the table is only a starting point. Precedence per dimension, strongest first:
learned (a 429's quotaValue) > config (`[limits."model"]` in config.toml) > table > default.

IPM choice: IPM only matters for image-generating models. Text models carry IPM 0 on every tier (they
generate no images, so a request asking one for images is impossible); requests with `images == 0` never
consult IPM. The image model gets 0 on the free tier (no image generation there) and 10 on tier 1 and up.

Unknown models (not in the table, not overridden) get DEFAULT_ROWS for the tier — the strictest published
row (Pro's) — with source "default", so a new model is paced conservatively until a 429 or config says more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DIMENSIONS: tuple[str, ...] = ("rpm", "tpm", "rpd", "ipm")
TIERS: tuple[str, ...] = ("free", "tier1", "tier2", "tier3")

PRO = "gemini-2.5-pro"
FLASH = "gemini-2.5-flash"
LITE = "gemini-2.5-flash-lite"
FLASH_IMAGE = "gemini-2.5-flash-image"

# Models that answer with a generated image: each request costs one image of IPM.
IMAGE_MODELS: frozenset[str] = frozenset({FLASH_IMAGE})


def images_per_request(model: str) -> int:
    """Images one request to `model` generates (what it spends of IPM)."""
    return 1 if resolve_model(model) in IMAGE_MODELS or "image" in model.lower() else 0


# Strongest model first: when one is out of quota the router steps down this chain.
FALLBACK_ORDER: tuple[str, ...] = (PRO, FLASH, LITE)

ALIASES: dict[str, str] = {
    "pro": PRO,
    "flash": FLASH,
    "lite": LITE,
    "flash-lite": LITE,
    "image": FLASH_IMAGE,
    "flash-image": FLASH_IMAGE,
}

Row = tuple[int | None, int | None, int | None, int | None]  # rpm, tpm, rpd, ipm; None = unlimited

# Published December 2025 (see docs/reference). Flash / Flash-Lite tier 2-3 are not in our source: they
# repeat tier 1 (Google's are at least that generous). The image model's RPM/TPM/RPD are unverified: they
# repeat Flash's row; only its IPM is the documented 0 (free) / 10 (paid).
TABLE: dict[str, dict[str, Row]] = {
    PRO: {
        "free": (5, 250_000, 100, 0),
        "tier1": (150, 2_000_000, 10_000, 0),
        "tier2": (1_000, 8_000_000, None, 0),
        "tier3": (2_000, 16_000_000, None, 0),
    },
    FLASH: {
        "free": (15, 1_000_000, 500, 0),
        "tier1": (1_000, 4_000_000, None, 0),
        "tier2": (1_000, 4_000_000, None, 0),
        "tier3": (1_000, 4_000_000, None, 0),
    },
    LITE: {
        "free": (15, 250_000, 1_000, 0),
        "tier1": (4_000, 4_000_000, None, 0),
        "tier2": (4_000, 4_000_000, None, 0),
        "tier3": (4_000, 4_000_000, None, 0),
    },
    FLASH_IMAGE: {
        "free": (15, 1_000_000, 500, 0),
        "tier1": (1_000, 4_000_000, None, 10),
        "tier2": (1_000, 4_000_000, None, 10),
        "tier3": (1_000, 4_000_000, None, 10),
    },
}

# For models the table does not know: the strictest published row of each tier (Pro's).
DEFAULT_ROWS: dict[str, Row] = dict(TABLE[PRO])


def resolve_model(name: str) -> str:
    """Alias or `models/…` name → model id; unknown ids pass through unchanged."""
    cleaned = name.strip()
    if cleaned.startswith("models/"):
        cleaned = cleaned[len("models/"):]
    return ALIASES.get(cleaned.lower(), cleaned)


def normalize_tier(tier: str | None) -> str:
    """Unknown or missing tiers read as "free": the conservative guess."""
    return tier if tier in TIERS else "free"


@dataclass(frozen=True)
class ModelLimits:
    """Limits of one model on one tier; `source[dim]` says where each number came from."""

    rpm: int | None
    tpm: int | None
    rpd: int | None
    ipm: int | None
    source: Mapping[str, str] = field(default_factory=dict, hash=False)
    model: str = ""
    tier: str = "free"

    def get(self, dimension: str) -> int | None:
        if dimension not in DIMENSIONS:
            raise KeyError(dimension)
        return getattr(self, dimension)

    def with_value(self, dimension: str, value: int | None, source: str) -> ModelLimits:
        """A copy with one dimension replaced (learned limits, ghost lowering)."""
        if dimension not in DIMENSIONS:
            raise KeyError(dimension)
        return replace(self, **{dimension: value}, source={**self.source, dimension: source})

    def as_dict(self) -> dict[str, int | None]:
        return {dim: self.get(dim) for dim in DIMENSIONS}


def _parse_limit(value: Any) -> tuple[bool, int | None]:
    """Config values: a non-negative int, or "unlimited"/"none"/negative for no limit. (ok, value)."""
    if isinstance(value, bool):
        return False, None
    if isinstance(value, int):
        return True, (None if value < 0 else value)
    if isinstance(value, float) and value.is_integer():
        return True, (None if value < 0 else int(value))
    if isinstance(value, str) and value.strip().lower() in ("unlimited", "none", "inf"):
        return True, None
    return False, None


class LimitTable:
    """The table plus the user's `[limits."model"]` overrides; invalid override values are ignored."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        table: Mapping[str, Mapping[str, Row]] | None = None,
    ) -> None:
        self._table = {resolve_model(m): dict(rows) for m, rows in (table or TABLE).items()}
        self._overrides: dict[str, dict[str, int | None]] = {}
        self.ignored: list[str] = []  # "model.dim" overrides that were not numbers (for a config warning)
        for model, dims in (overrides or {}).items():
            if not isinstance(dims, Mapping):
                continue
            parsed: dict[str, int | None] = {}
            for dim, value in dims.items():
                ok, limit = _parse_limit(value)
                if dim in DIMENSIONS and ok:
                    parsed[dim] = limit
                else:
                    self.ignored.append(f"{model}.{dim}")
            self._overrides.setdefault(resolve_model(model), {}).update(parsed)

    def models(self) -> tuple[str, ...]:
        """Models the published table knows."""
        return tuple(self._table)

    def known_models(self) -> tuple[str, ...]:
        """Table models plus models the user configured limits for."""
        return (*self._table, *(m for m in self._overrides if m not in self._table))

    def known(self, model: str) -> bool:
        model = resolve_model(model)
        return model in self._table or model in self._overrides

    def limits(
        self, model: str, tier: str = "free", learned: Mapping[str, int | None] | None = None
    ) -> ModelLimits:
        """Effective published limits: learned > config > table > default, per dimension."""
        model = resolve_model(model)
        tier = normalize_tier(tier)
        rows = self._table.get(model)
        if rows is not None:
            base, base_source = rows.get(tier, DEFAULT_ROWS[tier]), "table"
        else:
            base, base_source = DEFAULT_ROWS[tier], "default"
        values = dict(zip(DIMENSIONS, base, strict=True))
        source = dict.fromkeys(DIMENSIONS, base_source)
        for dim, value in self._overrides.get(model, {}).items():
            values[dim], source[dim] = value, "config"
        for dim, value in (learned or {}).items():
            if dim in DIMENSIONS:
                values[dim], source[dim] = value, "learned"
        return ModelLimits(**values, source=source, model=model, tier=tier)
