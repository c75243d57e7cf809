"""The user's settings file (TOML under the config dir): read with tomllib, written back with tomli-w.

Only what is not secret lives here. A file that does not parse is never overwritten: callers get a
ConfigError with a one-line message naming the file, and the user's text stays as it was.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from gemtui import paths

TIERS = ("free", "tier1", "tier2", "tier3")
ON_LIMIT_POLICIES = ("switch", "wait", "ask")


class ConfigError(Exception):
    """The config file exists but cannot be used; the message is one line for the user."""


@dataclass
class Config:
    """Parsed settings with defaults applied; `data` keeps the whole document for round-trips."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def general(self) -> dict[str, Any]:
        return self.section("general")

    @property
    def tier(self) -> str:
        tier = str(self.general.get("tier", "free"))
        return tier if tier in TIERS else "free"

    @property
    def model(self) -> str:
        return str(self.general.get("model", "auto"))

    @property
    def on_limit(self) -> str:
        policy = str(self.general.get("on_limit", "switch"))
        return policy if policy in ON_LIMIT_POLICIES else "switch"

    @property
    def wait_threshold_s(self) -> float:
        try:
            return max(0.0, float(self.general.get("wait_threshold_s", 20.0)))
        except (TypeError, ValueError):
            return 20.0

    @property
    def limit_overrides(self) -> dict[str, dict[str, Any]]:
        """`[limits."model-id"]` tables: rpm/tpm/rpd/ipm per model, from the user."""
        return {k: v for k, v in self.section("limits").items() if isinstance(v, dict)}


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    if not path.exists():
        return Config({}, path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix it or move it aside") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return Config(data, path)


def update_config(mutate: Callable[[dict[str, Any]], None], path: Path | None = None) -> Config:
    """Re-read the file, apply `mutate` to its document and write it back atomically.

    Re-reading first keeps edits made by another gemtui process (or by hand) since we loaded it.
    """
    config = load_config(path)
    mutate(config.data)
    target = config.path or paths.config_file()
    tmp = target.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(config.data), encoding="utf-8")
    os.replace(tmp, target)
    return config
