"""Adding, listing, switching and removing profiles: the operations the CLI and the TUI share.

Every function works without a terminal: nothing here prompts or prints. Warnings the user must
see (the file store is unencrypted, secrets left behind) come back in the results.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gemtui.auth.endpoints import mask_endpoint, mask_proxy, validate_endpoint, validate_proxy
from gemtui.auth.errors import ProfileError, SecretStoreError
from gemtui.auth.headers import Header, describe_headers
from gemtui.auth.profiles import (
    ENV_PROFILE,
    Profile,
    active_profile_name,
    check_api,
    check_name,
    check_tier,
    delete_profile_entry,
    find_profile,
    get_profile,
    list_profiles,
    set_active_name,
    write_profile,
)
from gemtui.auth.resolve import ENV_ENDPOINT_VAR, ENV_KEY_VARS
from gemtui.auth.secrets import SecretStore, open_store
from gemtui.config import Config, load_config
from gemtui.errors import mask

KeyState = Literal["stored", "missing", "unavailable", "env"]
_UNSET = object()


@dataclass(frozen=True)
class ProfileView:
    """One row of `gemtui auth list` / the TUI's auth screen; holds no secret, only masked forms."""

    name: str
    active: bool
    key: str  # masked key, or a note such as "(no key stored)"
    key_state: KeyState
    endpoint: str  # scheme://host/… or "official API"
    tier: str
    project: str
    api_version: str | None
    backup: str | None
    allow_insecure_http: bool = False
    note: str | None = None  # why the key could not be read, one line
    headers: str = ""  # custom header names, values masked: "X-Relay-Key: …"
    proxy: str = "none"  # scheme://host:port/… or "none"
    api: str = "gemini"  # the wire: "gemini" or "openai"
    model: str | None = None  # an OpenAI-compatible profile's default model


@dataclass(frozen=True)
class AddResult:
    profile: Profile
    replaced: bool
    activated: bool
    warning: str | None  # set when the secrets went to the unencrypted file store


@dataclass(frozen=True)
class RemoveResult:
    name: str
    was_active: bool
    warning: str | None  # set when the secrets could not be deleted from the store


def list_profile_views(
    *,
    env: Mapping[str, str] = os.environ,
    config: Config | None = None,
    store: SecretStore | None = None,
) -> list[ProfileView]:
    """Every configured profile, plus the implicit "env" one when an environment key is set.

    A store failure is reported per row (key_state "unavailable"), so the list still shows.
    """
    config = config or load_config()
    store = store or open_store(config)
    active = active_profile_name(config)
    views: list[ProfileView] = []
    for profile in list_profiles(config):
        key_text, state, endpoint, note, headers, proxy = "(no key stored)", "missing", "?", None, "", "?"
        try:
            key = store.get_api_key(profile.name)
            endpoint = mask_endpoint(store.get_endpoint(profile.name))
            proxy = mask_proxy(store.get_proxy(profile.name))
            headers = describe_headers(store.get_headers(profile.name))
            if key:
                key_text, state = mask(key), "stored"
        except (SecretStoreError, ProfileError) as exc:
            key_text, state, note = "(store unavailable)", "unavailable", str(exc)
        views.append(
            ProfileView(
                name=profile.name,
                active=profile.name == active,
                key=key_text,
                key_state=state,
                endpoint=endpoint,
                tier=profile.tier,
                project=profile.project,
                api_version=profile.api_version,
                backup=profile.backup,
                allow_insecure_http=profile.allow_insecure_http,
                note=note,
                headers=headers,
                proxy=proxy,
                api=profile.api,
                model=profile.model,
            )
        )
    env_key = next((env[v].strip() for v in ENV_KEY_VARS if env.get(v, "").strip()), "")
    if env_key:
        version = config.general.get("api_version")
        views.append(
            ProfileView(
                name=ENV_PROFILE,
                active=active is None,
                key=mask(env_key),
                key_state="env",
                endpoint=mask_endpoint(env.get(ENV_ENDPOINT_VAR, "").strip() or None),
                tier=config.tier,
                project=ENV_PROFILE,
                api_version=str(version) if version else None,
                backup=None,
            )
        )
    return views


def add_profile(
    name: str,
    api_key: str,
    *,
    endpoint: str | None = None,
    tier: str = "free",
    project: str | None = None,
    api_version: str | None = None,
    backup: str | None = None,
    allow_insecure_http: bool = False,
    activate: bool | None = None,
    store: SecretStore | None = None,
    headers: tuple[Header, ...] | list[Header] = (),
    proxy: str | None = None,
    api: str = "gemini",
    model: str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
) -> AddResult:
    """Create or replace a profile: secrets to the store first, then the config entry.

    Re-adding describes the profile afresh: no `endpoint` means the official API again, no headers
    or proxy means none. `headers` are (name, value) pairs already checked by `parse_header`. `activate`
    None makes the profile active only when no usable profile is active yet.
    """
    check_name(name)
    check_tier(tier)
    check_api(api)
    if api == "openai" and not endpoint:
        raise ProfileError("an OpenAI-compatible profile needs --endpoint URL (e.g. https://api.deepseek.com/v1)")
    api_key = api_key.strip()
    if not api_key:
        raise ProfileError("the API key is empty; nothing was stored")
    if any(ch.isspace() for ch in api_key):
        raise ProfileError("the API key contains blanks; paste it again (nothing was stored)")
    if endpoint is not None:
        endpoint = validate_endpoint(endpoint, allow_insecure_http=allow_insecure_http)
    if proxy is not None:
        proxy = validate_proxy(proxy)
    config = load_config()
    if backup is not None:
        _check_backup(name, backup, config)
    profile = Profile(
        name=name,
        tier=tier,
        project=(project or "").strip() or name,
        api_version=(api_version or "").strip() or None,
        backup=backup or None,
        allow_insecure_http=allow_insecure_http,
        api=api,
        model=(model or "").strip() or None,
        rpm=rpm,
        tpm=tpm,
    )
    replaced = find_profile(name, config) is not None
    store = store or open_store(config)
    store.set_api_key(name, api_key)
    try:
        store.set_endpoint(name, endpoint)
        store.set_headers(name, tuple(headers))
        store.set_proxy(name, proxy)
        write_profile(profile)
    except Exception:
        if not replaced:  # leave nothing behind for a profile that was never created
            with contextlib.suppress(SecretStoreError):
                store.delete_profile(name)
        raise
    if activate is None:
        current = active_profile_name(config)
        activate = current is None or find_profile(current, config) is None
    if activate:
        set_active_name(name)
    return AddResult(profile=profile, replaced=replaced, activated=activate, warning=store.warning)


def update_profile(
    name: str,
    *,
    tier: str | object = _UNSET,
    project: str | object = _UNSET,
    api_version: str | None | object = _UNSET,
    backup: str | None | object = _UNSET,
    allow_insecure_http: bool | object = _UNSET,
) -> Profile:
    """Change a profile's non-secret settings without touching its key (unnamed arguments stay)."""
    config = load_config()
    old = get_profile(name, config)
    changes: dict[str, object] = {}
    if tier is not _UNSET:
        changes["tier"] = check_tier(str(tier))
    if project is not _UNSET:
        changes["project"] = str(project or "").strip() or name
    if api_version is not _UNSET:
        changes["api_version"] = str(api_version).strip() if api_version else None
    if backup is not _UNSET:
        if backup:
            _check_backup(name, str(backup), config)
        changes["backup"] = str(backup) if backup else None
    if allow_insecure_http is not _UNSET:
        changes["allow_insecure_http"] = bool(allow_insecure_http)
    new = Profile(**{**_profile_fields(old), **changes})
    write_profile(new)
    return new


def update_secrets(
    name: str,
    *,
    headers: tuple[Header, ...] | object = _UNSET,
    proxy: str | None | object = _UNSET,
    store: SecretStore | None = None,
) -> tuple[tuple[Header, ...], str | None]:
    """Replace a profile's custom headers and/or proxy in the secret store, leaving its key alone.

    Returns the headers and proxy now stored. Empty headers / a None proxy forget them.
    """
    config = load_config()
    get_profile(name, config)
    store = store or open_store(config)
    if proxy is not _UNSET and proxy is not None:
        proxy = validate_proxy(str(proxy))
    if headers is not _UNSET:
        store.set_headers(name, tuple(headers))  # type: ignore[arg-type]
    if proxy is not _UNSET:
        store.set_proxy(name, proxy)  # type: ignore[arg-type]
    return store.get_headers(name), store.get_proxy(name)


def use_profile(name: str | None) -> Profile | None:
    """Make `name` the active profile; None (or "env") clears it so the environment key applies."""
    if name is None or name == ENV_PROFILE:
        set_active_name(None)
        return None
    profile = get_profile(name)
    set_active_name(name)
    return profile


def remove_profile(name: str, *, store: SecretStore | None = None) -> RemoveResult:
    """Forget a profile: its config entry, the active marker, backups naming it, and its secrets.

    The config entry goes even when the store cannot be reached; the result then says what stayed.
    """
    config = load_config()
    get_profile(name, config)
    was_active = active_profile_name(config) == name
    store = store or open_store(config)
    warning = None
    try:
        store.delete_profile(name)
    except SecretStoreError as exc:
        warning = f"the profile is gone from the config file, but its secrets may remain: {exc}"
    delete_profile_entry(name)
    return RemoveResult(name=name, was_active=was_active, warning=warning)


def _check_backup(name: str, backup: str, config: Config) -> None:
    if backup == name:
        raise ProfileError(f"profile {name!r} cannot be its own backup")
    other = find_profile(backup, config)
    if other is None:
        raise ProfileError(f"the backup profile {backup[:64]!r} does not exist; add it first")
    if other.backup == name:
        raise ProfileError(f"{backup!r} already names {name!r} as its backup; a loop cannot fail over")


def _profile_fields(profile: Profile) -> dict[str, object]:
    return {f: getattr(profile, f) for f in profile.__dataclass_fields__}
