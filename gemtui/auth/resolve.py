"""Which profile a request is sent as: `--profile NAME` → the active profile → the environment.

The environment profile ("env") takes GOOGLE_API_KEY or GEMINI_API_KEY (GOOGLE_API_KEY wins when
both are set, as in Google's SDK) and GOOGLE_GEMINI_BASE_URL as its endpoint. Its project label is
"env": create a profile with `--project` to share a ledger with a named project instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gemtui.auth.endpoints import endpoint_secrets, mask_endpoint, mask_proxy, validate_endpoint, validate_proxy
from gemtui.auth.errors import AuthError, ProfileError
from gemtui.auth.headers import Header, describe_headers, header_secrets
from gemtui.auth.profiles import ENV_PROFILE, Profile, active_profile_name, find_profile
from gemtui.auth.secrets import SecretStore, open_store
from gemtui.config import Config, load_config
from gemtui.errors import mask, scrub
from gemtui.log import add_secrets

Source = Literal["flag", "active", "env", "backup"]

ENV_KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # first one set wins, matching google-genai
ENV_ENDPOINT_VAR = "GOOGLE_GEMINI_BASE_URL"
ENV_PROFILE_VAR = "GEMTUI_PROFILE"  # same as --profile, for scripts and shells


@dataclass(frozen=True)
class ResolvedProfile:
    """Everything needed to send a request; repr/str mask the key and the endpoint's path."""

    name: str
    api_key: str = field(repr=False)
    endpoint: str | None  # None = the official API
    api_version: str | None
    tier: str
    project: str
    source: Source
    backup: str | None = None
    headers: tuple[Header, ...] = field(default=(), repr=False)  # custom request headers (values secret)
    proxy: str | None = field(default=None, repr=False)  # None = the environment's, if any
    api: str = "gemini"  # the wire: "gemini" or "openai"
    model: str | None = None  # an OpenAI-compatible profile's default model

    def __post_init__(self) -> None:
        add_secrets(*self.secrets)  # the log file masks them from the moment they are known

    @property
    def masked_key(self) -> str:
        return mask(self.api_key)

    @property
    def masked_endpoint(self) -> str:
        return mask_endpoint(self.endpoint)

    @property
    def masked_proxy(self) -> str:
        return mask_proxy(self.proxy)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What `gemtui.errors.scrub` must hide in text derived from a call made as this profile:
        the key (masked), and the endpoint's path/query, header values and proxy credentials (whole)."""
        return profile_secrets(self.api_key, self.endpoint, self.headers, self.proxy)

    def redact(self, text: str) -> str:
        """`text` with the endpoint shown as scheme://host/…, its token-bearing parts cut, the key masked."""
        return scrub(text, self.secrets)

    def __repr__(self) -> str:
        return (
            f"ResolvedProfile(name={self.name!r}, api_key={self.masked_key!r}, "
            f"endpoint={self.masked_endpoint!r}, api_version={self.api_version!r}, tier={self.tier!r}, "
            f"project={self.project!r}, source={self.source!r}, backup={self.backup!r}, "
            f"headers={describe_headers(self.headers)!r}, proxy={self.masked_proxy!r}, api={self.api!r})"
        )

    __str__ = __repr__


def profile_secrets(
    api_key: str | None, endpoint: str | None, headers: tuple[Header, ...] = (), proxy: str | None = None
) -> tuple[str, ...]:
    """Everything to scrub from text derived from calls made with these settings (one list for the
    CLI, the TUI and the log)."""
    pieces = (api_key, *endpoint_secrets(endpoint), *header_secrets(headers), *endpoint_secrets(proxy))
    return tuple(s for s in pieces if s)


NO_KEY_MESSAGE = (
    "no API key: add a profile with `gemtui auth add NAME` (the key goes to the OS keyring), "
    "or set GEMINI_API_KEY; `gemtui --demo` needs no key"
)


def resolve_profile(
    name: str | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    config: Config | None = None,
    store: SecretStore | None = None,
) -> ResolvedProfile:
    """Pick the profile by precedence and read its secrets; AuthError (one line, no key) if none fits.

    `name` is the `--profile` flag (GEMTUI_PROFILE stands in when it is None); "env" names the
    environment profile explicitly. An active profile that cannot be read is an error, never a
    silent fall back to the environment, so a request is never sent as someone unexpected.
    """
    config = config or load_config()
    flag = name or env.get(ENV_PROFILE_VAR) or None
    if flag:
        if flag == ENV_PROFILE:
            return _from_env(env, config, "flag")
        profile = find_profile(flag, config)
        if profile is None:
            raise ProfileError(f"no profile named {flag[:64]!r}; see `gemtui auth list`")
        return _from_stored(profile, "flag", config, store)
    active = active_profile_name(config)
    if active:
        profile = find_profile(active, config)
        if profile is None:
            raise ProfileError(
                f"the active profile {active[:64]!r} is not in the config file; pick one with `gemtui auth use NAME`"
            )
        return _from_stored(profile, "active", config, store)
    return _from_env(env, config, "env")


def resolve_backup(
    resolved: ResolvedProfile,
    *,
    config: Config | None = None,
    store: SecretStore | None = None,
) -> ResolvedProfile | None:
    """The failover profile `resolved` names, or None. One level only: a backup's backup is ignored."""
    if not resolved.backup:
        return None
    if resolved.backup == resolved.name:
        raise ProfileError(f"profile {resolved.name!r} names itself as its backup")
    config = config or load_config()
    profile = find_profile(resolved.backup, config)
    if profile is None:
        raise ProfileError(f"the backup profile {resolved.backup[:64]!r} of {resolved.name!r} does not exist")
    backup = _from_stored(profile, "backup", config, store)
    return ResolvedProfile(**{**_fields(backup), "backup": None})


def _fields(resolved: ResolvedProfile) -> dict[str, object]:
    return {f: getattr(resolved, f) for f in resolved.__dataclass_fields__}


def _from_stored(profile: Profile, source: Source, config: Config, store: SecretStore | None) -> ResolvedProfile:
    store = store or open_store(config)
    key = store.get_api_key(profile.name)
    if not key:
        raise AuthError(
            f"profile {profile.name!r} has no key in the {store.describe()}; "
            f"store one with `gemtui auth add {profile.name}`"
        )
    endpoint = store.get_endpoint(profile.name)
    if endpoint:
        endpoint = validate_endpoint(endpoint, allow_insecure_http=profile.allow_insecure_http)
    headers = store.get_headers(profile.name)
    proxy = store.get_proxy(profile.name)
    if proxy:
        proxy = validate_proxy(proxy)
    return ResolvedProfile(
        name=profile.name,
        api_key=key,
        endpoint=endpoint or None,
        api_version=profile.api_version,
        tier=profile.tier,
        project=profile.project,
        source=source,
        backup=profile.backup,
        headers=headers,
        proxy=proxy or None,
        api=profile.api,
        model=profile.model,
    )


def _from_env(env: Mapping[str, str], config: Config, source: Source) -> ResolvedProfile:
    key = next((env[v].strip() for v in ENV_KEY_VARS if env.get(v, "").strip()), "")
    if not key:
        raise AuthError(NO_KEY_MESSAGE)
    endpoint = env.get(ENV_ENDPOINT_VAR, "").strip() or None
    if endpoint:
        allow = bool(config.section("auth").get("allow_insecure_http", False))
        endpoint = validate_endpoint(endpoint, allow_insecure_http=allow)
    api_version = config.general.get("api_version")
    return ResolvedProfile(
        name=ENV_PROFILE,
        api_key=key,
        endpoint=endpoint,
        api_version=str(api_version) if api_version else None,
        tier=config.tier,
        project=ENV_PROFILE,
        source=source,
        backup=None,
    )
