"""`gemtui doctor` against the emulator, a real Secret Service, a broken config and a broken ledger: one line
per check, a verdict, status 0 only when everything is ok, and never a secret on screen."""

from __future__ import annotations

import pytest

from gemtui import exitcodes, paths
from tests.cli_helpers import Gemtui, closed_port

KEY = "AIzaSyDOCTOR-TEST-KEY-0123456789abQz"
RELAY_TOKEN = "relay-token-zz9-doctor"


@pytest.fixture
def gemtui(monkeypatch, capsys):
    return Gemtui(monkeypatch, capsys)


def lines(output: str) -> dict[str, str]:
    """check name → its line (the verdict under "verdict")."""
    found = {}
    for line in output.splitlines():
        if line.startswith("verdict:"):
            found["verdict"] = line
        elif line[:4].strip() in ("ok", "warn", "fail"):
            found[line[6:].split("  ")[0].strip()] = line
    return found


def test_all_ok_with_a_keyring_profile_on_the_emulator(gemtui, secret_service, emulator):
    assert (
        gemtui("auth", "add", "work", "--project", "proj-shared", "--endpoint", emulator.base_url, stdin="key-a\n") == 0
    )
    code = gemtui("doctor")
    out = gemtui.outputs[-1][1]
    found = lines(out)
    assert code == exitcodes.EXIT_OK, out
    assert set(found) == {
        "config",
        "keyring",
        "profile",
        "endpoint",
        "clock",
        "zone data",
        "ledger",
        "log file",
        "verdict",
    }
    assert all(line.startswith("ok") for name, line in found.items() if name != "verdict")
    assert found["verdict"] == "verdict: all 8 checks ok"
    assert "work" in found["profile"] and "proj-shared" in found["profile"]
    assert "models listed" in found["endpoint"] and "America/Los_Angeles" in found["zone data"]
    assert "key-a" not in out


def test_the_endpoint_failing_is_a_failed_check_and_a_nonzero_status(gemtui, no_keyring, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    code = gemtui("doctor", "--endpoint", f"http://127.0.0.1:{closed_port()}/p/{RELAY_TOKEN}")
    out = gemtui.outputs[-1][1]
    found = lines(out)
    assert code == exitcodes.EXIT_DOCTOR
    assert found["endpoint"].startswith("fail") and found["keyring"].startswith("warn")
    assert found["clock"].startswith("warn") and found["ledger"].startswith("ok")
    assert found["verdict"] == "verdict: 1 failed, 2 warned of 8 checks"
    assert KEY not in out and RELAY_TOKEN not in out
    from gemtui import log

    log.flush()
    logged = paths.log_file().read_text()
    assert "doctor: the endpoint check failed" in logged  # the traceback is there, masked
    assert KEY not in logged and RELAY_TOKEN not in logged


def test_a_wrong_key_on_the_emulator_fails_the_endpoint_in_one_line(gemtui, no_keyring, monkeypatch, emulator):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    assert gemtui("doctor", "--endpoint", emulator.base_url) == exitcodes.EXIT_DOCTOR
    found = lines(gemtui.outputs[-1][1])
    assert found["endpoint"].startswith("fail") and "key" in found["endpoint"].lower()
    assert KEY not in gemtui.outputs[-1][1]


def test_a_broken_config_and_a_broken_ledger_are_named(gemtui, no_keyring, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    paths.config_file().write_text("[general\ntier = ")
    ledger = paths.ledger_file()
    ledger.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    code = gemtui("doctor", "--demo")
    out = gemtui.outputs[-1][1]
    found = lines(out)
    assert code == exitcodes.EXIT_DOCTOR
    assert found["config"].startswith("fail") and "not valid TOML" in found["config"]
    assert found["ledger"].startswith("fail") and str(ledger) in found["ledger"]
    assert found["endpoint"].startswith("ok") and found["profile"].startswith("ok")  # --demo: the emulator
    assert ledger.read_bytes().startswith(b"SQLite format 3\x00\xff")  # reported, not moved aside or repaired


def test_an_unwritable_log_file_fails_its_check(gemtui, no_keyring, monkeypatch, tmp_path):
    import os

    if os.geteuid() == 0:
        from gemtui.commands import doctor

        monkeypatch.setattr("gemtui.log.log_path", lambda: tmp_path / "no-such-folder" / "gemtui.log")
        (check,) = doctor.check_log(None, {})
    else:
        log = paths.log_file()
        log.touch()
        log.chmod(0o400)
        from gemtui.commands import doctor

        (check,) = doctor.check_log(None, {})
    assert check.status == "fail" and "cannot write" in check.detail


def test_a_skewed_clock_warns_and_a_close_one_is_ok():
    from email.utils import formatdate

    from gemtui.commands.doctor import _clock_check

    now = 1_780_000_000.0
    assert _clock_check({"Date": formatdate(now, usegmt=True)}, now + 0.4).status == "ok"
    skewed = _clock_check({"date": formatdate(now, usegmt=True)}, now + 300)
    assert skewed.status == "warn" and "300 s ahead" in skewed.detail
    assert _clock_check({}, now).status == "warn"


def test_a_locked_keyring_fails_its_check_and_the_profile_check_says_why(gemtui, fresh_secret_service):
    import contextlib

    assert gemtui("auth", "add", "work", stdin=KEY + "\n") == 0
    with contextlib.closing(fresh_secret_service.connection()) as conn:
        fresh_secret_service.collection(conn).lock()
    assert gemtui("doctor") == exitcodes.EXIT_DOCTOR
    out = gemtui.outputs[-1][1]
    found = lines(out)
    assert found["keyring"].startswith("fail") and "locked" in found["keyring"]
    assert found["profile"].startswith("fail") and found["endpoint"].startswith("fail")
    assert KEY not in out


def test_an_openai_compatible_profile_is_checked_on_its_own_wire(gemtui, secret_service, emulator):
    assert (
        gemtui(
            "auth",
            "add",
            "ds",
            "--api",
            "openai",
            "--endpoint",
            emulator.openai_base_url,
            "--model",
            "deepseek-chat",
            stdin="key-a\n",
        )
        == 0
    )
    code = gemtui("doctor", "--profile", "ds")
    out = gemtui.outputs[-1][1]
    found = lines(out)
    assert found["endpoint"].startswith("ok") and "API openai" in found["endpoint"], out
    assert "2 models listed" in found["endpoint"]
    assert code == exitcodes.EXIT_OK, out
    assert "key-a" not in out
