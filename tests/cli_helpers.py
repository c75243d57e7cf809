"""Shared by the tests that run the real CLI in-process and look through everything it printed."""

from __future__ import annotations

import io
import socket

from gemtui.cli import main


class Gemtui:
    """Runs `gemtui ARGV…` in-process and keeps what each command printed (no traceback, ever)."""

    def __init__(self, monkeypatch, capsys) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.outputs: list[tuple[str, str]] = []

    def __call__(self, *argv: str, stdin: str = "") -> int:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.outputs.append((" ".join(argv), out + err))
        assert "Traceback" not in out + err
        return code


def closed_port() -> int:
    """A loopback port nothing listens on (a dead relay or proxy)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
