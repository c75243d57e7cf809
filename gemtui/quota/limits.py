"""Published limits as data (model × tier → RPM, TPM, RPD, IPM), overridden by config and by what 429s teach.

Google changes these numbers; the table is only a starting point. Precedence per dimension, strongest first:
learned (a 429's quotaValue) > config (`[limits."model"]` in config.toml) > table > unknown.

IPM choice: IPM only matters for image-generating models. Text models carry IPM 0 on every tier (they
generate no images, so a request asking one for images is impossible); requests with `images == 0` never
consult IPM. The image model gets 0 on the free tier (no image generation there) and 10 on tier 1 and up.

Unknown models (not in the table, not overridden) have no limits with source "unknown": shown as
"unknown — learning" and learned from the first 429's quotaValue, never guessed from another model's row
(a newer model's limits differ from an older one's, either way).

The family aliases `pro`, `flash` and `lite` start as the 2.5 models and are re-pointed, once per process,
at the newest models the server lists (see chat/model_aliases.py); FALLBACK_ORDER follows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

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


FAMILIES: tuple[str, ...] = ("pro", "flash", "lite")  # the aliases the server's model list re-points

DEFAULT_ALIASES: dict[str, str] = {
    "pro": PRO,
    "flash": FLASH,
    "lite": LITE,
    "flash-lite": LITE,
    "image": FLASH_IMAGE,
    "flash-image": FLASH_IMAGE,
}

# Live: use_aliases() updates it in place, so every importer sees the current resolution.
ALIASES: dict[str, str] = dict(DEFAULT_ALIASES)


def use_aliases(families: Mapping[str, str]) -> None:
    """Point `pro`/`flash`/`lite` at these ids (missing families fall back to the 2.5 models)."""
    ALIASES.clear()
    ALIASES.update(DEFAULT_ALIASES)
    for family in FAMILIES:
        model = families.get(family)
        if model:
            ALIASES[family] = model.strip().removeprefix("models/")
    ALIASES["flash-lite"] = ALIASES["lite"]


class _FallbackChain(Sequence[str]):
    """Strongest model first: when one is out of quota the router steps down this chain. A live view
    of the aliases (pro, flash, lite), so the chain follows the server's newest models."""

    def _ids(self) -> tuple[str, ...]:
        return tuple(ALIASES[family] for family in FAMILIES)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._ids()[index]

    def __len__(self) -> int:
        return len(FAMILIES)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(self._ids())

    def __repr__(self) -> str:
        return repr(self._ids())


FALLBACK_ORDER: Sequence[str] = _FallbackChain()

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

UNKNOWN = "unknown"  # the source of a limit nobody has told us yet (shown as "unknown — learning")
UNKNOWN_ROW: Row = (None, None, None, None)


def resolve_model(name: str) -> str:
    """Alias or `models/…` name → model id; unknown ids pass through unchanged."""
    cleaned = name.strip()
    if cleaned.startswith("models/"):
        cleaned = cleaned[len("models/") :]
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
        value: int | None = getattr(self, dimension)
        return value

    def with_value(self, dimension: str, value: int | None, source: str) -> ModelLimits:
        """A copy with one dimension replaced (learned limits, ghost lowering)."""
        if dimension not in DIMENSIONS:
            raise KeyError(dimension)
        changes: dict[str, Any] = {dimension: value, "source": {**self.source, dimension: source}}
        return replace(self, **changes)

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
        overrides: Mapping[str, object] | None = None,  # the config file's [limits."model"] tables, unchecked
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
            # Kept as written: an alias (`[limits.pro]`) follows what the alias means at lookup time.
            self._overrides.setdefault(model.strip(), {}).update(parsed)

    def _configured(self, model: str) -> dict[str, int | None]:
        """The user's overrides for `model` (an id): alias entries first, so a full-id entry wins."""
        found: dict[str, int | None] = {}
        entries = sorted(self._overrides.items(), key=lambda item: resolve_model(item[0]) == item[0])
        for name, dims in entries:
            if resolve_model(name) == model:
                found.update(dims)
        return found

    def models(self) -> tuple[str, ...]:
        """Models the published table knows."""
        return tuple(self._table)

    def known_models(self) -> tuple[str, ...]:
        """Table models plus models the user configured limits for."""
        configured = dict.fromkeys(resolve_model(m) for m in self._overrides)
        return (*self._table, *(m for m in configured if m not in self._table))

    def known(self, model: str) -> bool:
        model = resolve_model(model)
        return model in self._table or bool(self._configured(model))

    def limits(self, model: str, tier: str = "free", learned: Mapping[str, int | None] | None = None) -> ModelLimits:
        """Effective published limits: learned > config > table, per dimension; a dimension none of
        them gives is None with source "unknown" (admitted, and learned from the first 429)."""
        model = resolve_model(model)
        tier = normalize_tier(tier)
        rows = self._table.get(model)
        if rows is not None and tier in rows:
            base, base_source = rows[tier], "table"
        else:
            base, base_source = UNKNOWN_ROW, UNKNOWN
        values = dict(zip(DIMENSIONS, base, strict=True))
        source = dict.fromkeys(DIMENSIONS, base_source)
        for dim, value in self._configured(model).items():
            values[dim], source[dim] = value, "config"
        for dim, value in (learned or {}).items():
            if dim in DIMENSIONS:
                values[dim], source[dim] = value, "learned"
        return ModelLimits(**values, source=source, model=model, tier=tier)
