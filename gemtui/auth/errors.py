"""Failures of the auth layer, each carrying one line a user can act on (never a key)."""

from __future__ import annotations


class AuthError(Exception):
    """No usable key or profile; `str()` is one line for the user and never contains a secret."""


class ProfileError(AuthError):
    """A profile name is unknown, reserved or malformed, or a profile setting is invalid."""


class EndpointError(AuthError, ValueError):
    """An endpoint URL is malformed or would send the key in clear."""


class SecretStoreError(AuthError):
    """The secret store exists but failed (locked keyring, D-Bus error, unreadable file)."""


class NoKeyringError(SecretStoreError):
    """No OS keyring is available; the message offers the environment variable or the file store."""


NO_KEYRING_MESSAGE = (
    "no OS keyring is available (no Secret Service on this system), so gemtui cannot store the key "
    "securely; either set GEMINI_API_KEY in the environment, or opt in to an unencrypted file store "
    "with `gemtui auth add NAME --file-store` (or `[auth] file_store = true` in the config file)"
)
