"""Profiles (what a request is sent as) and their secrets, kept in the OS keyring.

Layering: this package imports only config/paths/errors; gemini/ and the UIs import it.
The public API is re-exported here so callers need one import.
"""

from __future__ import annotations

from gemtui.auth.check import CHECK_MODEL, CheckResult, check_profile
from gemtui.auth.endpoints import (
    OFFICIAL_ENDPOINT,
    endpoint_secrets,
    is_loopback,
    mask_endpoint,
    redact_endpoint,
    validate_endpoint,
)
from gemtui.auth.errors import (
    AuthError,
    EndpointError,
    NoKeyringError,
    ProfileError,
    SecretStoreError,
)
from gemtui.auth.manage import (
    AddResult,
    ProfileView,
    RemoveResult,
    add_profile,
    list_profile_views,
    remove_profile,
    update_profile,
    use_profile,
)
from gemtui.auth.profiles import (
    ENV_PROFILE,
    Profile,
    active_profile_name,
    find_profile,
    get_profile,
    list_profiles,
)
from gemtui.auth.resolve import ResolvedProfile, resolve_backup, resolve_profile
from gemtui.auth.secrets import (
    FileStore,
    KeyringStore,
    SecretStore,
    enable_file_store,
    file_store_enabled,
    keyring_available,
    open_store,
)

__all__ = [
    "CHECK_MODEL",
    "ENV_PROFILE",
    "OFFICIAL_ENDPOINT",
    "AddResult",
    "AuthError",
    "CheckResult",
    "EndpointError",
    "FileStore",
    "KeyringStore",
    "NoKeyringError",
    "Profile",
    "ProfileError",
    "ProfileView",
    "RemoveResult",
    "ResolvedProfile",
    "SecretStore",
    "SecretStoreError",
    "active_profile_name",
    "add_profile",
    "check_profile",
    "enable_file_store",
    "endpoint_secrets",
    "file_store_enabled",
    "find_profile",
    "get_profile",
    "is_loopback",
    "keyring_available",
    "list_profile_views",
    "list_profiles",
    "mask_endpoint",
    "open_store",
    "redact_endpoint",
    "remove_profile",
    "resolve_backup",
    "resolve_profile",
    "update_profile",
    "use_profile",
    "validate_endpoint",
]
