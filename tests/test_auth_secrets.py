"""The secret store against a real Secret Service (gnome-keyring), the fail backend and the file store."""

from __future__ import annotations

import json
import stat

import keyring
import pytest

from gemtui.auth import (
    FileStore,
    KeyringStore,
    NoKeyringError,
    SecretStoreError,
    keyring_available,
    open_store,
)
from gemtui.auth.errors import NO_KEYRING_MESSAGE
from gemtui.auth.secrets import SERVICE, enable_file_store

KEY = "AIzaSyTEST-secret-store-0123456789abcd"
OTHER = "AIzaSyTEST-replacement-9876543210wxyz"


def test_keyring_store_round_trip_through_secret_service(secret_service):
    store = KeyringStore()
    assert keyring_available()
    assert store.get_api_key("work") is None
    store.set_api_key("work", KEY)
    assert store.get_api_key("work") == KEY
    # stored under service "gemtui", username NAME:api_key, visible to any keyring client
    assert keyring.get_password(SERVICE, "work:api_key") == KEY


def test_keyring_store_replace_and_delete(secret_service):
    store = KeyringStore()
    store.set_api_key("work", KEY)
    store.set_endpoint("work", "https://relay.example.com/t/abc")
    store.set_api_key("work", OTHER)
    assert store.get_api_key("work") == OTHER
    assert store.get_endpoint("work") == "https://relay.example.com/t/abc"
    store.set_endpoint("work", None)
    assert store.get_endpoint("work") is None
    store.delete_profile("work")
    assert store.get_api_key("work") is None
    store.delete_profile("work")  # deleting what is gone is not an error


def test_profiles_do_not_see_each_other(secret_service):
    store = KeyringStore()
    store.set_api_key("a", KEY)
    store.set_api_key("b", OTHER)
    store.delete_profile("a")
    assert store.get_api_key("b") == OTHER


def test_fail_backend_raises_plain_no_keyring_error(no_keyring, isolated_dirs):
    store = open_store()
    assert isinstance(store, KeyringStore)
    assert not keyring_available()
    with pytest.raises(NoKeyringError) as info:
        store.set_api_key("work", KEY)
    message = str(info.value)
    assert "\n" not in message and KEY not in message
    assert "GEMINI_API_KEY" in message and "--file-store" in message
    with pytest.raises(NoKeyringError):
        store.get_api_key("work")
    # nothing was written anywhere as a fallback
    written = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    assert all(KEY not in p.read_text(errors="replace") for p in written)
    assert not list(isolated_dirs.rglob("secrets.json"))
    assert message == NO_KEYRING_MESSAGE


def test_null_backend_counts_as_no_keyring(monkeypatch):
    from keyring.backends import null

    monkeypatch.setattr(keyring.core, "_keyring_backend", null.Keyring())
    with pytest.raises(NoKeyringError):
        KeyringStore().set_api_key("work", KEY)


def test_locked_keyring_is_a_clear_message(fresh_secret_service):
    import contextlib

    store = KeyringStore()
    store.set_api_key("work", KEY)
    with contextlib.closing(fresh_secret_service.connection()) as conn:
        fresh_secret_service.collection(conn).lock()
    with pytest.raises(SecretStoreError) as info:
        store.get_api_key("work")
    assert "locked" in str(info.value)
    assert "\n" not in str(info.value)


def test_dead_service_is_a_one_line_error(fresh_secret_service):
    store = KeyringStore()
    fresh_secret_service.stop()
    with pytest.raises(SecretStoreError) as info:
        store.set_api_key("work", KEY)
    message = str(info.value)
    assert "OS keyring failed" in message and "\n" not in message and KEY not in message


def test_file_store_is_0600_and_warns(isolated_dirs):
    enable_file_store()
    store = open_store()
    assert isinstance(store, FileStore)
    assert "not encrypted" in store.warning.lower() or "NOT encrypted" in store.warning
    store.set_api_key("work", KEY)
    store.set_endpoint("work", "https://relay.example.com/t/abc")
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600
    assert store.path.is_relative_to(isolated_dirs / "data")
    data = json.loads(store.path.read_text())
    assert data["profiles"]["work"] == {"api_key": KEY, "endpoint": "https://relay.example.com/t/abc"}
    store.set_api_key("work", OTHER)
    assert store.get_api_key("work") == OTHER
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.delete_profile("work")
    assert store.get_api_key("work") is None
    assert json.loads(store.path.read_text())["profiles"] == {}


def test_file_store_tightens_loosened_permissions(isolated_dirs):
    store = FileStore()
    store.set_api_key("work", KEY)
    store.path.chmod(0o644)
    assert store.get_api_key("work") == KEY
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_corrupt_file_store_is_one_line_error(isolated_dirs):
    store = FileStore()
    store.path.write_text("{not json")
    with pytest.raises(SecretStoreError) as info:
        store.get_api_key("work")
    assert "not valid JSON" in str(info.value)
    for shape in ('{"profiles": [1]}', "[1, 2]", '"text"'):  # JSON, but not the store's shape
        store.path.write_text(shape)
        with pytest.raises(SecretStoreError, match="not a"):
            store.set_api_key("work", KEY)  # refused: saving would have written over what is there
        assert store.path.read_text() == shape


def test_empty_secret_refused(secret_service):
    with pytest.raises(ValueError):
        KeyringStore().set_api_key("work", "")


def test_store_repr_names_no_secret(secret_service):
    store = KeyringStore()
    store.set_api_key("work", KEY)
    assert KEY not in repr(store)
