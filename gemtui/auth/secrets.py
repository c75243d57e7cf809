"""Where keys and relay endpoints live: the OS keyring, or a 0600 file the user explicitly chose.

Keyring entries use service "gemtui" and usernames `NAME:api_key`, `NAME:endpoint`, `NAME:headers`
and `NAME:proxy` (relay URLs and headers often carry an account token, a proxy URL a password, so
they are secrets too). When the only keyring is the fail or null
backend, nothing is stored anywhere: the user is told the two choices (environment variable, or
the opt-in file store) instead of a key silently landing in plaintext.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from gemtui import paths
from gemtui.auth.errors import NO_KEYRING_MESSAGE, NoKeyringError, SecretStoreError
from gemtui.config import Config, load_config, update_config
from gemtui.errors import one_line

SERVICE = "gemtui"
API_KEY = "api_key"
ENDPOINT = "endpoint"
HEADERS = "headers"  # custom request headers, JSON: relays authenticate with them
PROXY = "proxy"  # a proxy URL may carry a password
LEDGER_PASSWORD = "ledger_password"  # the team ledger's Redis password ([ledger] password_secret names it)
FIELDS = (API_KEY, ENDPOINT, HEADERS, PROXY, LEDGER_PASSWORD)

FILE_STORE_NAME = "secrets.json"
FILE_STORE_WARNING = (
    "warning: keys are stored in {path}, a plain file protected only by its permissions (0600); "
    "it is NOT encrypted by an OS keyring service, so anyone who can read your files (root, backups, "
    "a copied disk) can read the keys"
)


def _username(profile: str, field: str) -> str:
    if field not in FIELDS:
        raise ValueError(f"unknown secret field {field!r}")
    return f"{profile}:{field}"


class SecretStore:
    """Get/set/delete one profile's secrets; subclasses decide where they live."""

    kind = "abstract"

    def get(self, profile: str, field: str) -> str | None:
        raise NotImplementedError

    def set(self, profile: str, field: str, value: str) -> None:
        raise NotImplementedError

    def delete(self, profile: str, field: str) -> None:
        """Remove the entry; removing what is not there is not an error."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def warning(self) -> str | None:
        """A line the user must see when secrets are written here (None when none is needed)."""
        return None

    def get_api_key(self, profile: str) -> str | None:
        return self.get(profile, API_KEY)

    def set_api_key(self, profile: str, key: str) -> None:
        self.set(profile, API_KEY, key)

    def get_endpoint(self, profile: str) -> str | None:
        return self.get(profile, ENDPOINT)

    def set_endpoint(self, profile: str, endpoint: str | None) -> None:
        """Store a relay URL, or forget it (None) so the profile goes to the official API."""
        if endpoint:
            self.set(profile, ENDPOINT, endpoint)
        else:
            self.delete(profile, ENDPOINT)

    def _set_or_forget(self, profile: str, field: str, value: str | None) -> None:
        if value:
            self.set(profile, field, value)
        else:
            self.delete(profile, field)

    def get_headers(self, profile: str) -> tuple[tuple[str, str], ...]:
        from gemtui.auth.headers import decode_headers

        return decode_headers(self.get(profile, HEADERS))

    def set_headers(self, profile: str, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> None:
        """Store a profile's custom headers (names and values), or forget them (empty)."""
        from gemtui.auth.headers import encode_headers

        self._set_or_forget(profile, HEADERS, encode_headers(headers) if headers else None)

    def get_proxy(self, profile: str) -> str | None:
        return self.get(profile, PROXY)

    def set_proxy(self, profile: str, proxy: str | None) -> None:
        self._set_or_forget(profile, PROXY, proxy)

    def delete_profile(self, profile: str) -> None:
        for field in FIELDS:
            self.delete(profile, field)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def _is_no_keyring(backend: Any) -> bool:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring):
        return True
    return isinstance(backend, chainer.ChainerBackend) and not list(backend.backends)


def keyring_available(backend: Any = None) -> bool:
    """True when a real keyring backend (not fail/null) is selected; does not touch the service."""
    if backend is None:
        import keyring

        backend = keyring.get_keyring()
    return not _is_no_keyring(backend)


class KeyringStore(SecretStore):
    """The OS keyring through `keyring` (Secret Service on Linux, Keychain, Windows Credential Locker)."""

    kind = "keyring"

    def __init__(self, backend: Any = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> Any:
        if self._backend is None:
            import keyring

            return keyring.get_keyring()
        return self._backend

    def describe(self) -> str:
        backend = self.backend
        name = getattr(backend, "name", None) or type(backend).__name__
        return f"OS keyring ({name})"

    def ensure_available(self) -> Any:
        backend = self.backend
        if _is_no_keyring(backend):
            raise NoKeyringError(NO_KEYRING_MESSAGE)
        return backend

    def _call(self, action: str, method: str, *args: str, secret: str = "", absent_ok: bool = False) -> Any:
        from keyring import errors as kerr

        backend = self.ensure_available()
        try:
            return getattr(backend, method)(*args)
        except kerr.PasswordDeleteError:
            if absent_ok:  # keyring's way of saying "no such entry"
                return None
            raise SecretStoreError(f"the OS keyring refused to {action}") from None
        except kerr.NoKeyringError:
            raise NoKeyringError(NO_KEYRING_MESSAGE) from None
        except kerr.KeyringLocked:
            raise SecretStoreError(
                f"the OS keyring is locked, so gemtui cannot {action}; unlock it (log in to the desktop "
                "session, or run `gnome-keyring-daemon --unlock`) and try again"
            ) from None
        except Exception as exc:  # D-Bus failures, dismissed prompts, backend bugs: one line, no traceback
            detail = one_line(exc, (secret,) if secret else ())
            raise SecretStoreError(
                f"the OS keyring failed, so gemtui cannot {action} ({type(exc).__name__}: {detail}); "
                "check that the keyring service (e.g. gnome-keyring) is running in this session"
            ) from None

    def get(self, profile: str, field: str) -> str | None:
        username = _username(profile, field)
        return self._call(f"read the {field} of {profile!r}", "get_password", SERVICE, username)

    def set(self, profile: str, field: str, value: str) -> None:
        if not value:
            raise ValueError("refusing to store an empty secret")
        self._call(
            f"store the {field} of {profile!r}",
            "set_password",
            SERVICE,
            _username(profile, field),
            value,
            secret=value,
        )

    def delete(self, profile: str, field: str) -> None:
        self._call(
            f"delete the {field} of {profile!r}",
            "delete_password",
            SERVICE,
            _username(profile, field),
            absent_ok=True,
        )


class FileStore(SecretStore):
    """A JSON file created 0600 under the data dir: the user's explicit choice when no keyring exists."""

    kind = "file"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.data_dir() / FILE_STORE_NAME

    def describe(self) -> str:
        return f"file store {self.path} (not encrypted)"

    @property
    def warning(self) -> str:
        return FILE_STORE_WARNING.format(path=self.path)

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(f"cannot read the file store {self.path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            with contextlib.suppress(OSError):  # someone loosened it; the keys must not stay readable
                os.chmod(self.path, 0o600)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise SecretStoreError(
                f"the file store {self.path} cannot be read or is not valid JSON; fix it or move it aside"
            ) from None
        profiles = data.get("profiles", {}) if isinstance(data, dict) else None
        if not isinstance(profiles, dict):  # read as empty, the next save would write over the keys in it
            raise SecretStoreError(
                f'the file store {self.path} is JSON but not a {{"profiles": {{…}}}} object; fix it or move it aside'
            )
        return {k: dict(v) for k, v in profiles.items() if isinstance(v, dict)}

    def _save(self, profiles: dict[str, dict[str, str]]) -> None:
        text = json.dumps({"version": 1, "profiles": profiles}, indent=2, sort_keys=True) + "\n"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, text.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SecretStoreError(f"cannot write the file store {self.path}: {exc.strerror}") from None

    def get(self, profile: str, field: str) -> str | None:
        _username(profile, field)
        return self._load().get(profile, {}).get(field)

    def set(self, profile: str, field: str, value: str) -> None:
        _username(profile, field)
        if not value:
            raise ValueError("refusing to store an empty secret")
        profiles = self._load()
        profiles.setdefault(profile, {})[field] = value
        self._save(profiles)

    def delete(self, profile: str, field: str) -> None:
        _username(profile, field)
        profiles = self._load()
        entry = profiles.get(profile)
        if not entry or field not in entry:
            return
        del entry[field]
        if not entry:
            del profiles[profile]
        self._save(profiles)


def file_store_enabled(config: Config | None = None) -> bool:
    config = config or load_config()
    return bool(config.section("auth").get("file_store", False))


def enable_file_store() -> None:
    """Record the user's opt-in (`[auth] file_store = true`) so later runs read the same store."""

    def mutate(data: dict[str, Any]) -> None:
        data.setdefault("auth", {})["file_store"] = True

    update_config(mutate)


def open_store(config: Config | None = None, *, file_store: bool | None = None) -> SecretStore:
    """The store this user chose: the file store only after an explicit opt-in, else the OS keyring."""
    if file_store is None:
        file_store = file_store_enabled(config)
    return FileStore() if file_store else KeyringStore()
