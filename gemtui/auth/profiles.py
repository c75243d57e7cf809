"""The non-secret half of a profile, kept in the config file.

```toml
[general]
active_profile = "work"

[profiles.work]
tier = "tier1"
project = "acme-prod"        # profiles with one project label share one quota ledger
api_version = "v1beta"      # optional
backup = "paid"             # optional failover profile
allow_insecure_http = false # optional

[profiles.deepseek]
api = "openai"              # the wire: "gemini" (default) or "openai" (OpenAI-compatible Chat Completions)
model = "deepseek-chat"     # optional: the model it answers with when none is named
rpm = 60                    # optional: limits that apply where the server states none in its headers
tpm = 1000000
```

The key and the endpoint are secrets and live in the secret store (see `secrets.py`); the config
file only records that a profile exists and how it is billed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gemtui.auth.errors import ProfileError
from gemtui.config import TIERS, Config, load_config, update_config

ENV_PROFILE = "env"  # the implicit profile built from GEMINI_API_KEY / GOOGLE_API_KEY
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Profile:
    """What a request is sent as, minus its secrets."""

    name: str
    tier: str = "free"
    project: str = ""
    api_version: str | None = None
    backup: str | None = None
    allow_insecure_http: bool = False
    api: str = "gemini"  # which wire: "gemini" or "openai" (OpenAI-compatible Chat Completions)
    model: str | None = None  # an OpenAI-compatible profile's default model
    rpm: int | None = None  # limits for its models where the server's headers state none
    tpm: int | None = None

    def __post_init__(self) -> None:
        if not self.project:
            object.__setattr__(self, "project", self.name)

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"tier": self.tier, "project": self.project}
        if self.api_version:
            table["api_version"] = self.api_version
        if self.backup:
            table["backup"] = self.backup
        if self.allow_insecure_http:
            table["allow_insecure_http"] = True
        if self.api != "gemini":
            table["api"] = self.api
        if self.model:
            table["model"] = self.model
        for dim in ("rpm", "tpm"):
            if getattr(self, dim) is not None:
                table[dim] = getattr(self, dim)
        return table

    @property
    def limits(self) -> dict[str, int]:
        """The limits this profile sets for its models ({} when none)."""
        return {dim: value for dim in ("rpm", "tpm") if (value := getattr(self, dim)) is not None}


def check_name(name: str) -> str:
    """Names become TOML keys and keyring usernames (`NAME:api_key`), so keep them plain."""
    if name == ENV_PROFILE:
        raise ProfileError(f"{ENV_PROFILE!r} is reserved for the key taken from the environment; pick another name")
    if not _NAME.match(name or ""):
        raise ProfileError(
            f"bad profile name {name[:40]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


API_KINDS = ("gemini", "openai")


def check_api(api: str) -> str:
    if api not in API_KINDS:
        raise ProfileError(f"unknown API kind {api!r}; choose one of {', '.join(API_KINDS)}")
    return api


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ProfileError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    return tier


def _from_table(name: str, table: dict[str, Any]) -> Profile:
    """A profile as the config file holds it. A hand-edited value of the wrong type is refused with the
    line to mend: read as a default, `allow_insecure_http = "false"` sent a key over plain http."""
    where = f"[profiles.{name}]"

    def wrong(field: str, wanted: str) -> ProfileError:
        return ProfileError(f"config {where} {field} = {table[field]!r}: {wanted}")

    def text(field: str) -> str | None:
        value = table.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise wrong(field, "must be a string in quotes")
        return value

    tier = text("tier") or "free"
    if tier not in TIERS:
        raise wrong("tier", f"choose one of {', '.join(TIERS)}")
    api = text("api") or "gemini"
    if api not in API_KINDS:
        raise wrong("api", f"choose one of {', '.join(API_KINDS)}")
    insecure = table.get("allow_insecure_http", False)
    if not isinstance(insecure, bool):
        raise wrong("allow_insecure_http", "must be true or false, without quotes")
    for field in ("rpm", "tpm"):
        if table.get(field) is not None and _whole(table[field]) is None:
            raise wrong(field, "must be a whole number from 0, without quotes")
    return Profile(
        name=name,
        tier=tier,
        project=text("project") or name,
        api_version=text("api_version"),
        backup=text("backup"),
        allow_insecure_http=insecure,
        api=api,
        model=text("model"),
        rpm=_whole(table.get("rpm")),
        tpm=_whole(table.get("tpm")),
    )


def _whole(value: Any) -> int | None:
    """A limit from the config file: a whole number from 0, else none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tables(config: Config) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in config.section("profiles").items() if isinstance(v, dict)}


def list_profiles(config: Config | None = None) -> list[Profile]:
    config = config or load_config()
    return [_from_table(name, table) for name, table in sorted(_tables(config).items())]


def find_profile(name: str, config: Config | None = None) -> Profile | None:
    config = config or load_config()
    table = _tables(config).get(name)
    return None if table is None else _from_table(name, table)


def get_profile(name: str, config: Config | None = None) -> Profile:
    profile = find_profile(name, config)
    if profile is None:
        raise ProfileError(f"no profile named {name[:64]!r}; see `gemtui auth list`")
    return profile


def active_profile_name(config: Config | None = None) -> str | None:
    config = config or load_config()
    name = config.general.get("active_profile")
    return str(name) if name else None


def write_profile(profile: Profile) -> None:
    """Create or replace `[profiles.NAME]`, keeping any keys in it this version does not know."""
    check_name(profile.name)

    def mutate(data: dict[str, Any]) -> None:
        profiles = data.setdefault("profiles", {})
        old = profiles.get(profile.name, {})
        table = {k: v for k, v in old.items() if k not in _KNOWN} if isinstance(old, dict) else {}
        table.update(profile.to_table())
        profiles[profile.name] = table

    update_config(mutate)


_KNOWN = ("tier", "project", "api_version", "backup", "allow_insecure_http", "api", "model", "rpm", "tpm")


def delete_profile_entry(name: str) -> None:
    """Drop `[profiles.NAME]`, the active marker if it pointed here, and backups naming it."""

    def mutate(data: dict[str, Any]) -> None:
        profiles = data.get("profiles", {})
        if isinstance(profiles, dict):
            profiles.pop(name, None)
            for table in profiles.values():
                if isinstance(table, dict) and table.get("backup") == name:
                    del table["backup"]
            if not profiles:
                data.pop("profiles", None)
        general = data.get("general", {})
        if isinstance(general, dict) and general.get("active_profile") == name:
            del general["active_profile"]

    update_config(mutate)


def set_active_name(name: str | None) -> None:
    """Mark `name` active (None clears it, so the environment key applies again)."""

    def mutate(data: dict[str, Any]) -> None:
        general = data.setdefault("general", {})
        if name is None:
            general.pop("active_profile", None)
        else:
            general["active_profile"] = name

    update_config(mutate)
