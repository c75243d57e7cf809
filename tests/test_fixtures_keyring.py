"""The Secret Service the suite runs on survives its daemon dying: nothing locked takes its place, and the
next test that asks for it gets a new, unlocked one (a crash once cost every later keyring test)."""

from __future__ import annotations

import contextlib
import signal

from tests.fixtures_keyring import SECRETS_BUS_NAME, _healthy, _revive, start_secret_service


def _owned(service) -> bool:
    from jeepney.bus_messages import message_bus

    with contextlib.closing(service.connection()) as conn:
        return bool(conn.send_and_get_reply(message_bus.NameHasOwner(SECRETS_BUS_NAME)).body[0])


def test_a_dead_daemon_is_not_replaced_by_a_locked_one_and_is_revived(tmp_path, monkeypatch):
    service = start_secret_service(tmp_path / "ss")
    try:
        backend = service.backend()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        backend.set_password("gemtui", "p:api_key", "before")
        service.keyring_proc.send_signal(signal.SIGKILL)
        service.keyring_proc.wait(timeout=10)
        assert not _healthy(service)
        assert not _owned(service)  # no activation: a locked system daemon did not step in
        old_address = service.address
        _revive(service)
        assert service.address != old_address and _healthy(service)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        backend = service.backend()
        backend.set_password("gemtui", "p:api_key", "after")
        assert backend.get_password("gemtui", "p:api_key") == "after"
    finally:
        service.stop()
