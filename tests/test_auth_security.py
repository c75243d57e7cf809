"""The key (and a relay's token) never reach a file gemtui writes or anything it prints.

One known key goes in through stdin; every auth command runs, then requests are sent as that
profile through the emulator (ask, a stored session, quota, a relay path that 404s); finally every
file under the test's folders and every captured byte of output and logging is searched.
"""

from __future__ import annotations

import io
import logging
import socket
from pathlib import Path

import pytest

from gemtui import exitcodes
from gemtui.cli import main

KEY = "AIzaSySECURITY-canary-7f3a9c1e5b2d4068"
RELAY_TOKEN = "relaytoken-canary-5e8d21"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Session:
    """Runs `gemtui` in-process with stdin given, keeping each command's output apart."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.outputs: list[tuple[str, str]] = []  # (command, stdout + stderr)

    def __call__(self, *argv: str, stdin: str = "") -> int:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.outputs.append((" ".join(argv), out + err))
        return code


def _leak(text: str, needle: str) -> str | None:
    at = text.find(needle)
    return None if at < 0 else text[max(0, at - 80) : at + len(needle)]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_the_key_appears_nowhere(secret_service, emulator, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.add_key(KEY, "security-project")
    gemtui = _Session(monkeypatch, capsys)
    down = f"http://127.0.0.1:{_closed_port()}/acct/{RELAY_TOKEN}?token={RELAY_TOKEN}"
    wrong_path = f"{emulator.base_url}/acct/{RELAY_TOKEN}"  # the emulator answers 404 under this path

    assert (
        gemtui("auth", "add", "sec", "--endpoint", emulator.base_url, "--project", "security-project", stdin=KEY + "\n")
        == 0
    )
    assert (
        gemtui(
            "auth", "add", "relay", "--endpoint", down, "--backup", "sec", "--api-version", "v1beta", stdin=KEY + "\n"
        )
        == 0
    )
    assert gemtui("auth", "add", "wrong-path", "--endpoint", wrong_path, stdin=KEY) == 0
    assert (
        gemtui("auth", "add", "sec", "--endpoint", emulator.base_url, "--project", "security-project", stdin=KEY + "\n")
        == 0
    )  # replace
    assert gemtui("auth", "list") == 0
    assert gemtui("auth", "list", "--json") == 0
    assert gemtui("auth", "use", "relay") == 0
    assert gemtui("auth", "set", "relay", "--tier", "tier1") == 0
    assert gemtui("auth", "test", "sec") == 0
    assert gemtui("auth", "test") == exitcodes.EXIT_UNREACHABLE  # the active relay is down
    assert gemtui("auth", "test", "wrong-path") == exitcodes.EXIT_NOT_FOUND
    assert gemtui("auth", "use", "sec") == 0
    assert gemtui("auth", "test") == 0
    assert gemtui("--profile", "sec", "auth", "test") == 0

    assert gemtui("ask", "--profile", "sec", "--model", "flash", "hi") == 0
    assert gemtui("--profile", "sec", "ask", "--session", "canary", "hello again") == 0
    assert gemtui("ask", "--session", "canary", "and once more") == 0
    assert gemtui("ask", "--profile", "wrong-path", "hi") != 0
    assert gemtui("quota", "--profile", "sec") == 0
    assert gemtui("quota", "--profile", "sec", "--json") == 0

    assert gemtui("auth", "remove", "relay") == 0
    assert gemtui("auth", "remove", "wrong-path") == 0
    assert gemtui("auth", "list") == 0
    assert gemtui("auth", "remove", "sec") == 0

    printed = "\n".join(text for _, text in gemtui.outputs)
    assert "AIza…4068" in printed  # the masked form is what the user sees
    for command, text in gemtui.outputs:
        assert _leak(text, KEY) is None, f"key printed by `gemtui {command}`: {_leak(text, KEY)}"
        assert _leak(text, RELAY_TOKEN) is None, f"relay token printed by `gemtui {command}`"
    # every log record at every level, gemtui's and the libraries' (httpx, the SDK)
    assert _leak(caplog.text, KEY) is None, _leak(caplog.text, KEY)
    # httpx logs each request URL at INFO, so a relay's path is in library INFO records by design;
    # what gemtui logs itself, and anything at WARNING or above, must not show it
    for record in caplog.records:
        if record.name.startswith("gemtui") or record.levelno >= logging.WARNING:
            assert RELAY_TOKEN not in record.getMessage(), f"relay token logged by {record.name}"

    written = _files(tmp_path)
    assert any(p.name == "config.toml" for p in written)
    assert any(p.suffix == ".sqlite3" for p in written), "ask should have written the ledger and sessions"
    assert any(p.name == "gemtui.log" for p in written), "the failures should have been logged, and searched"
    for path in written:
        data = path.read_bytes()
        for needle in (KEY, RELAY_TOKEN):
            assert needle.encode() not in data, f"{needle[:12]}… found in {path}"
            assert needle.encode("utf-16-le") not in data, f"{needle[:12]}… (UTF-16) found in {path}"


def test_ask_through_a_relay_hides_its_token(secret_service, emulator, monkeypatch, capsys):
    emulator.add_key(KEY, "security-project")
    gemtui = _Session(monkeypatch, capsys)
    assert gemtui("auth", "add", "wrong-path", "--endpoint", f"{emulator.base_url}/acct/{RELAY_TOKEN}", stdin=KEY) == 0
    assert gemtui("ask", "--profile", "wrong-path", "hi") != 0
    text = gemtui.outputs[-1][1]
    assert _leak(text, KEY) is None
    assert _leak(text, RELAY_TOKEN) is None, _leak(text, RELAY_TOKEN)
