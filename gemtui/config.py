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
from gemtui.generation import GenerationSettings, SettingError, settings_from

TIERS = ("free", "tier1", "tier2", "tier3")
ON_LIMIT_POLICIES = ("switch", "wait", "ask")
LEDGER_ON_UNREACHABLE = ("local", "stop")  # [ledger] on_unreachable: count on this machine, or exit
HISTORY_DAYS_DEFAULT = 30
HISTORY_DAYS_RANGE = (1, 366)


# `[breaker]`: key -> (default, lowest allowed, highest allowed, what it is); see docs/quota.md.
BREAKER_SETTINGS: dict[str, tuple[float, float, float, str]] = {
    "threshold": (0.5, 0.01, 1.0, "a share of failures from 0.01 to 1.0"),
    "min_requests": (4, 1, 1000, "a whole number of requests from 1 to 1000"),
    "window_s": (60.0, 1.0, 3600.0, "seconds from 1 to 3600"),
    "cooling_s": (30.0, 1.0, 3600.0, "seconds from 1 to 3600"),
    "max_cooling_s": (300.0, 1.0, 86400.0, "seconds from 1 to 86400"),
}


# `[cache]`: the response cache (see docs/providers.md); the checks are in SETTINGS["cache"].
CACHE_DEFAULTS: dict[str, Any] = {"enabled": False, "max_mb": 64, "ttl_days": 30}


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
    def history_days(self) -> int:
        """`[quota] history_days`: Pacific days of usage history the ledger keeps (checked on load)."""
        value = self.section("quota").get("history_days", HISTORY_DAYS_DEFAULT)
        return value if _valid_history_days(value) else HISTORY_DAYS_DEFAULT

    @property
    def breaker(self) -> dict[str, float]:
        """`[breaker]` settings of the circuit breaker, defaults filled in (checked on load)."""
        section = self.section("breaker")
        return {
            key: section.get(key, default) if _valid_breaker(key, section.get(key, default)) else default
            for key, (default, *_rest) in BREAKER_SETTINGS.items()
        }

    @property
    def cache(self) -> dict[str, Any]:
        """`[cache]` enabled / max_mb / ttl_days (checked on load), defaults filled in: the response cache
        is off for chat unless asked for (a batch turns it on itself)."""
        section = self.section("cache")
        return {key: section.get(key, default) for key, default in CACHE_DEFAULTS.items()}

    @property
    def model_pins(self) -> dict[str, str]:
        """`[models]` pro/flash/lite = "id": the user's choice beats the server's newest model."""
        return {
            k: v.strip()
            for k, v in self.section("models").items()
            if k in ("pro", "flash", "lite") and isinstance(v, str) and v.strip()
        }

    @property
    def ledger(self) -> dict[str, Any]:
        """`[ledger]`: the team ledger (url, on_unreachable, password_secret, lease_s, timeout_s), checked
        on load; GEMTUI_LEDGER_URL, when set, names the server instead of `url`."""
        section = dict(self.section("ledger"))
        from_env = os.environ.get("GEMTUI_LEDGER_URL", "").strip()
        if from_env:
            section["url"] = from_env
        section.setdefault("on_unreachable", "local")
        return section

    @property
    def generation(self) -> GenerationSettings:
        """`[generation]` defaults (temperature, top_p, max_output, thinking_budget), checked on load."""
        try:
            return settings_from(self.section("generation"))
        except SettingError:
            return GenerationSettings()

    @property
    def limit_overrides(self) -> dict[str, dict[str, Any]]:
        """`[limits."model-id"]` tables: rpm/tpm/rpd/ipm per model, from the user."""
        return {k: v for k, v in self.section("limits").items() if isinstance(v, dict)}


def _valid_history_days(value: Any) -> bool:
    low, high = HISTORY_DAYS_RANGE
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _valid_breaker(key: str, value: Any) -> bool:
    _default, low, high, _what = BREAKER_SETTINGS[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if key == "min_requests" and not isinstance(value, int):
        return False
    return low <= value <= high


def _check_breaker(config: Config) -> None:
    breaker = config.data.get("breaker")
    if breaker is None:
        return
    if not isinstance(breaker, dict):
        raise ConfigError(f"config file {config.path}: [breaker] must be a table")
    for key, value in breaker.items():
        if key not in BREAKER_SETTINGS:
            raise ConfigError(
                f"config file {config.path}: [breaker] has no setting {key!r}; "
                f"the settings are {', '.join(BREAKER_SETTINGS)}"
            )
        if not _valid_breaker(key, value):
            raise ConfigError(
                f"config file {config.path}: [breaker] {key} = {value!r} is not allowed; use {BREAKER_SETTINGS[key][3]}"
            )
    cooling = breaker.get("cooling_s", BREAKER_SETTINGS["cooling_s"][0])
    longest = breaker.get("max_cooling_s", BREAKER_SETTINGS["max_cooling_s"][0])
    if longest < cooling:
        raise ConfigError(
            f"config file {config.path}: [breaker] max_cooling_s = {longest!r} is below "
            f"cooling_s = {cooling!r}; the cap must be at least the first cooling period"
        )


LIMIT_DIMENSIONS = ("rpm", "tpm", "rpd", "ipm")
UNLIMITED_WORDS = ("unlimited", "none", "inf")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _valid_limit(value: Any) -> bool:
    """A `[limits.*]` value: a whole number from 0 up, or "unlimited" (a negative number is a typo
    that would have lifted the limit silently)."""
    if isinstance(value, str):
        return value.strip().lower() in UNLIMITED_WORDS
    return _is_number(value) and float(value).is_integer() and value >= 0


# key -> (is it allowed, what is allowed), per table: the settings read outside `[limits]`/`[breaker]`/`[quota]`.
_Rule = tuple[Callable[[Any], bool], str]
SETTINGS: dict[str, dict[str, _Rule]] = {
    "general": {
        "tier": (lambda v: v in TIERS, " | ".join(TIERS)),
        "model": (lambda v: isinstance(v, str) and bool(v.strip()), "auto, pro, flash, lite or a model id"),
        "on_limit": (lambda v: v in ON_LIMIT_POLICIES, " | ".join(ON_LIMIT_POLICIES)),
        "wait_threshold_s": (lambda v: _is_number(v) and 0 <= v <= 86400, "seconds from 0 to 86400"),
        "api_version": (lambda v: isinstance(v, str) and bool(v.strip()), "a version name such as v1beta"),
        "active_profile": (lambda v: isinstance(v, str), "a profile name"),
    },
    "models": {  # pins: a family alias always means this id, whatever the server lists
        "pro": (lambda v: isinstance(v, str) and bool(v.strip()), "a model id such as gemini-2.5-pro"),
        "flash": (lambda v: isinstance(v, str) and bool(v.strip()), "a model id such as gemini-2.5-flash"),
        "lite": (lambda v: isinstance(v, str) and bool(v.strip()), "a model id such as gemini-2.5-flash-lite"),
    },
    "tui": {
        "theme": (lambda v: isinstance(v, str) and bool(v.strip()), "a theme name"),
        "image_preview": (lambda v: isinstance(v, bool), "true or false"),
    },
    "context": {
        "max_input_tokens": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "a whole number of tokens from 0 (0 = no cap)",
        ),
        "tpm_share": (lambda v: _is_number(v) and 0 < v <= 1, "a share above 0 up to 1.0"),
        "truncate_oversized": (lambda v: isinstance(v, bool), "true or false"),
    },
    "cache": {
        "enabled": (lambda v: isinstance(v, bool), "true or false"),
        "max_mb": (lambda v: _is_number(v) and 0 < v <= 100_000, "megabytes above 0 up to 100000"),
        "ttl_days": (lambda v: _is_number(v) and 0 < v <= 3650, "days above 0 up to 3650"),
    },
    "auth": {
        "allow_insecure_http": (lambda v: isinstance(v, bool), "true or false"),
        "file_store": (lambda v: isinstance(v, bool), "true or false"),
    },
    "ledger": {
        "url": (
            lambda v: _valid_ledger_url(v),
            "redis://HOST:PORT/DB or rediss://… with no password in it "
            "(the password goes in the keyring: see docs/team.md)",
        ),
        "on_unreachable": (lambda v: v in LEDGER_ON_UNREACHABLE, " | ".join(LEDGER_ON_UNREACHABLE)),
        "password_secret": (
            lambda v: isinstance(v, str) and bool(v.strip()) and ":" not in v,
            "a name without ':' (the keyring entry NAME:ledger_password)",
        ),
        "lease_s": (lambda v: _is_number(v) and 1 <= v <= 86400, "seconds from 1 to 86400"),
        "timeout_s": (lambda v: _is_number(v) and 0.1 <= v <= 60, "seconds from 0.1 to 60"),
    },
}


def _valid_ledger_url(value: Any) -> bool:
    """A Redis URL whose password, if any, is not written in the config file."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://")):
        return False
    try:
        parts = urlsplit(value)
        return bool(parts.hostname) and parts.password is None and "password" not in parts.query
    except ValueError:
        return False


def _shown(value: Any) -> Any:
    """A setting as an error message repeats it: a URL's password (a mistake there) is masked."""
    if isinstance(value, str) and "://" in value and "@" in value:
        from urllib.parse import urlsplit, urlunsplit

        try:
            parts = urlsplit(value)
            if parts.password is not None:
                host = parts.netloc.rsplit("@", 1)[1]
                return urlunsplit(
                    (parts.scheme, f"{parts.username or ''}:***@{host}", parts.path, parts.query, parts.fragment)
                )
        except ValueError:
            return "(a URL that does not parse)"
    return value


def _check_settings(config: Config) -> None:
    """Known keys of the plain tables: right type and range, or an error naming file, key and what is
    allowed. Keys gemtui does not know are left alone there (a newer gemtui may have written them)."""
    for table, rules in SETTINGS.items():
        section = config.data.get(table)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ConfigError(f"config file {config.path}: [{table}] must be a table")
        for key, (allowed, what) in rules.items():
            if key in section and not allowed(section[key]):
                raise ConfigError(
                    f"config file {config.path}: [{table}] {key} = {_shown(section[key])!r} is not allowed; use {what}"
                )


def _check_limits(config: Config) -> None:
    """`[limits."model"]` tables: only rpm/tpm/rpd/ipm, each a whole number from 0 or "unlimited". A
    typo here would silently change how fast gemtui sends, so it is refused, never skipped."""
    limits = config.data.get("limits")
    if limits is None:
        return
    if not isinstance(limits, dict):
        raise ConfigError(f'config file {config.path}: [limits] must hold tables such as [limits."gemini-2.5-pro"]')
    for model, dims in limits.items():
        where = f'[limits."{model}"]'
        if not isinstance(dims, dict):
            raise ConfigError(
                f"config file {config.path}: limits.{model} must be a table {where} of {', '.join(LIMIT_DIMENSIONS)}"
            )
        for key, value in dims.items():
            if key not in LIMIT_DIMENSIONS:
                raise ConfigError(
                    f"config file {config.path}: {where} has no setting {key!r}; "
                    f"the settings are {', '.join(LIMIT_DIMENSIONS)}"
                )
            if not _valid_limit(value):
                raise ConfigError(
                    f"config file {config.path}: {where} {key} = {value!r} is not allowed; "
                    'use a whole number from 0 up, or "unlimited"'
                )


def _check_routing(config: Config) -> None:
    """`[routing] route`: a list of model aliases, ids or `profile:model` links; a typo is refused."""
    routing = config.data.get("routing")
    if routing is None:
        return
    if not isinstance(routing, dict):
        raise ConfigError(f"config file {config.path}: [routing] must be a table")
    route = routing.get("route")
    if route is not None and (
        not isinstance(route, list) or not route or not all(isinstance(link, str) and link.strip() for link in route)
    ):
        raise ConfigError(
            f"config file {config.path}: [routing] route must list model names, e.g. "
            '["pro", "flash", "lite", "deepseek:deepseek-chat"]'
        )


def _check(config: Config) -> None:
    """Every setting gemtui reads is checked on load, naming file, key and what is allowed, rather than
    quietly replaced by its default."""
    _check_settings(config)
    _check_limits(config)
    quota = config.data.get("quota")
    if quota is not None and not isinstance(quota, dict):
        raise ConfigError(f"config file {config.path}: [quota] must be a table")
    if quota and "history_days" in quota and not _valid_history_days(quota["history_days"]):
        low, high = HISTORY_DAYS_RANGE
        raise ConfigError(
            f"config file {config.path}: [quota] history_days = {quota['history_days']!r} is not allowed; "
            f"use a whole number of days from {low} to {high}"
        )
    _check_breaker(config)
    _check_generation(config)
    _check_routing(config)


def _check_generation(config: Config) -> None:
    """`[generation]`: the same ranges `/set` and the `ask` flags use (gemtui/generation.py)."""
    table = config.data.get("generation")
    if table is None:
        return
    if not isinstance(table, dict):
        raise ConfigError(f"config file {config.path}: [generation] must be a table")
    try:
        settings_from(table)
    except SettingError as exc:
        raise ConfigError(f"config file {config.path}: [generation] {exc}") from None


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    if not path.exists():
        return Config({}, path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix it or move it aside") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid UTF-8 (byte offset {exc.start}); fix it or move it aside"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    config = Config(data, path)
    _check(config)
    return config


def update_config(mutate: Callable[[dict[str, Any]], None], path: Path | None = None) -> Config:
    """Re-read the file, apply `mutate` to its document and write it back atomically.

    Re-reading first keeps edits made by another gemtui process (or by hand) since we loaded it.
    """
    config = load_config(path)
    mutate(config.data)
    target = config.path or paths.config_file()
    from gemtui.storage import write_private

    write_private(target, tomli_w.dumps(config.data))  # 0600: it names profiles, endpoints, headers
    return config
