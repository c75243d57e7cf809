"""Keyring fixtures: a real Secret Service (gnome-keyring on a private D-Bus), and the no-keyring path.

Every test starts on keyring's *fail* backend (autouse), so no test can ever read or write the
developer's own keyring. Tests that want the real thing ask for `secret_service`: one private
`dbus-daemon` plus an unlocked `gnome-keyring-daemon` per test session (about 50 ms to start), with
the gemtui items wiped between tests. `fresh_secret_service` starts a throw-away pair for tests that
break it (locking the collection).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SECRETS_BUS_NAME = "org.freedesktop.secrets"
SESSION_COLLECTION = "/org/freedesktop/secrets/collection/session"
_BINARIES = ("dbus-daemon", "gnome-keyring-daemon")
_PASSWORD = b"gemtui-test-login-password"


@dataclass
class SecretServiceProcess:
    """A running private Secret Service: its bus address and the collection keyring should use."""

    address: str
    dbus_pid: int
    keyring_proc: subprocess.Popen[bytes]
    home: Path
    collection_path: str | None  # None: the default ("login") collection

    def connection(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(self.address)

    def backend(self) -> Any:
        from keyring.backends import SecretService

        backend = SecretService.Keyring()
        if self.collection_path:
            backend.preferred_collection = self.collection_path
        return backend

    def collection(self, connection: Any) -> Any:
        import secretstorage

        if self.collection_path:
            return secretstorage.Collection(connection, self.collection_path)
        return secretstorage.get_default_collection(connection)

    def stop(self) -> None:
        if self.keyring_proc.poll() is None:
            self.keyring_proc.terminate()
            try:
                self.keyring_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.keyring_proc.kill()
                self.keyring_proc.wait()
        for stream in (self.keyring_proc.stdout, self.keyring_proc.stderr):
            if stream:
                stream.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.dbus_pid, signal.SIGTERM)


def missing_binaries() -> list[str]:
    return [name for name in _BINARIES if shutil.which(name) is None]


def skip_or_fail_without(missing: list[str]) -> None:
    """Skip on a developer machine without the packages; in CI (CI=true) a missing service is a failure,
    so a broken install step can never turn the real-keyring tests into silent skips."""
    message = f"{', '.join(missing)} not installed: run .ci/keyring-setup.sh (Debian: gnome-keyring dbus dbus-x11)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


# A session bus with no service directories: if the test daemon dies, nothing activates the system's
# gnome-keyring in its place (a second daemon starts locked, and every later test would meet "Item is
# locked"); a dead daemon is found and replaced by `secret_service` instead.
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_secret_service(home: Path, timeout_s: float = 10.0) -> SecretServiceProcess:
    """Start dbus-daemon and an unlocked gnome-keyring-daemon (secrets only) under `home`.

    The daemons get a private HOME/XDG tree and no DISPLAY, so they can neither touch the user's
    keyrings nor pop up a prompt.
    """
    runtime = home / "run"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "LANG": "C.UTF-8",
    }
    config = home / "bus.conf"
    config.write_text(_BUS_CONFIG)  # the socket in /tmp: a path under pytest's folders can be too long
    started = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=timeout_s,
    )
    address, pid = started.stdout.split("\n")[:2]
    env["DBUS_SESSION_BUS_ADDRESS"] = address.strip()
    proc = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(_PASSWORD)  # --unlock reads the login password from stdin until EOF
    proc.stdin.close()
    service = SecretServiceProcess(address.strip(), int(pid), proc, home, None)
    try:
        _wait_for_owner(service, timeout_s)
        service.collection_path = _usable_collection(service)
    except BaseException:
        service.stop()
        raise
    return service


def _wait_for_owner(service: SecretServiceProcess, timeout_s: float) -> None:
    """Poll NameHasOwner (which never triggers D-Bus activation of a second, locked daemon)."""
    from jeepney.bus_messages import message_bus

    deadline = time.monotonic() + timeout_s
    with contextlib.closing(service.connection()) as conn:
        while time.monotonic() < deadline:
            if service.keyring_proc.poll() is not None:
                stderr = service.keyring_proc.stderr
                err = stderr.read().decode(errors="replace") if stderr else ""
                raise RuntimeError(f"gnome-keyring-daemon exited early: {err.strip()[-500:]}")
            reply = conn.send_and_get_reply(message_bus.NameHasOwner(SECRETS_BUS_NAME))
            if reply.body[0]:
                return
            time.sleep(0.02)
    raise RuntimeError(f"gnome-keyring-daemon did not claim {SECRETS_BUS_NAME} within {timeout_s} s")


def _usable_collection(service: SecretServiceProcess) -> str | None:
    """The login collection when --unlock created it; else the always-present in-memory one.

    A first run may find no "default" alias (creating one needs an interactive prompt); the
    session collection exists in every gnome-keyring and needs no prompt.
    """
    import secretstorage

    with contextlib.closing(service.connection()) as conn:
        try:
            collection = secretstorage.get_default_collection(conn)
            if not collection.is_locked():
                return None
        except secretstorage.exceptions.SecretServiceNotAvailableException:
            raise
        except Exception:
            pass
        session = secretstorage.Collection(conn, SESSION_COLLECTION)
        session.ensure_not_locked()
        return SESSION_COLLECTION


def _use_backend(monkeypatch: pytest.MonkeyPatch, backend: Any, dotted: str) -> None:
    import keyring

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", dotted)  # for gemtui processes a test spawns
    # what keyring.set_keyring() assigns; monkeypatch puts the previous backend back at teardown
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)


@pytest.fixture(autouse=True)
def _keyring_defaults_to_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches a real keyring unless it asks for one."""
    from keyring.backends import fail

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    _use_backend(monkeypatch, fail.Keyring(), "keyring.backends.fail.Keyring")


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Any:
    """keyring's fail backend, as on a headless Linux box without a Secret Service."""
    from keyring.backends import fail

    backend = fail.Keyring()
    _use_backend(monkeypatch, backend, "keyring.backends.fail.Keyring")
    return backend


@pytest.fixture(scope="session")
def secret_service_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretServiceProcess]:
    if missing := missing_binaries():
        skip_or_fail_without(missing)
    service = start_secret_service(tmp_path_factory.mktemp("secret-service"))
    yield service
    service.stop()


def _attach(service: SecretServiceProcess, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
    backend = service.backend()
    _use_backend(monkeypatch, backend, "keyring.backends.SecretService.Keyring")
    return backend


def _healthy(service: SecretServiceProcess) -> bool:
    """The daemon is alive, answers, and its collection is unlocked."""
    if service.keyring_proc.poll() is not None:
        return False
    try:
        with contextlib.closing(service.connection()) as conn:
            return not service.collection(conn).is_locked()
    except Exception:
        return False


def _revive(service: SecretServiceProcess) -> None:
    """Replace a dead or broken daemon pair in place (the session fixture hands out this one object), and
    say so with what the old daemon printed: one test may have failed with it, the rest need not."""
    err = b""
    if service.keyring_proc.poll() is not None and service.keyring_proc.stderr:
        err = service.keyring_proc.stderr.read()
    print(f"secret service: the test daemon died (exit {service.keyring_proc.returncode}); started another")
    print(err.decode(errors="replace")[-2000:])
    service.stop()
    fresh = start_secret_service(service.home / f"again-{time.monotonic_ns()}")
    service.address, service.dbus_pid, service.keyring_proc = fresh.address, fresh.dbus_pid, fresh.keyring_proc
    service.collection_path = fresh.collection_path


def _wipe_gemtui_items(service: SecretServiceProcess) -> None:
    with contextlib.closing(service.connection()) as conn:
        for item in service.collection(conn).search_items({"service": "gemtui"}):
            item.delete()


@pytest.fixture
def secret_service(secret_service_process: SecretServiceProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """keyring's SecretService backend talking to the session's private gnome-keyring.

    Yields the backend; gemtui items are wiped before and after so tests cannot see each other.
    """
    if not _healthy(secret_service_process):
        _revive(secret_service_process)
    _wipe_gemtui_items(secret_service_process)
    backend = _attach(secret_service_process, monkeypatch)
    yield backend
    if _healthy(secret_service_process):  # else the next test starts another
        _wipe_gemtui_items(secret_service_process)


@pytest.fixture
def fresh_secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretServiceProcess]:
    """A private Secret Service for this test alone, attached like `secret_service`; yields the process."""
    if missing := missing_binaries():
        skip_or_fail_without(missing)
    service = start_secret_service(tmp_path / "secret-service")
    try:
        _attach(service, monkeypatch)
        yield service
    finally:
        service.stop()
