"""`gemtui auth` as a real process: keyring's own backend detection, as users run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gemtui import exitcodes
from gemtui.auth import KeyringStore

KEY = "AIzaSyPROCESS-TEST-0123456789abcdefgh"

# Elsewhere keyring would find the user's real Keychain / Credential Locker without any D-Bus.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Secret Service is Linux-only")


def _gemtui(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHON_KEYRING_BACKEND", None)  # let keyring pick its backend the way it does for users
    return subprocess.run(
        [sys.executable, "-m", "gemtui", *argv], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_secret_service_is_detected_and_used(secret_service):
    done = _gemtui("auth", "add", "work", stdin=KEY + "\n")
    assert done.returncode == 0, done.stderr
    assert "SecretService" in done.stdout and KEY not in done.stdout + done.stderr
    assert KeyringStore().get_api_key("work") == KEY  # visible through the same service in this process
    listed = _gemtui("auth", "list")
    assert listed.returncode == 0 and "AIza…efgh" in listed.stdout and KEY not in listed.stdout
    assert _gemtui("auth", "remove", "work").returncode == 0
    assert KeyringStore().get_api_key("work") is None


def test_without_a_session_bus_keyring_falls_to_fail_and_gemtui_says_so(isolated_dirs):
    assert "DBUS_SESSION_BUS_ADDRESS" not in os.environ
    done = _gemtui("auth", "add", "work", stdin=KEY + "\n")
    assert done.returncode == exitcodes.EXIT_AUTH
    assert done.stderr.startswith("gemtui: no OS keyring is available") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and KEY not in done.stdout + done.stderr
    files = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    assert all(KEY not in p.read_text(errors="replace") for p in files)
