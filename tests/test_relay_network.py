"""Networks that need a proxy, as a user's shell sees them: the environment's proxy and a profile's are
used for every request, and a proxy that cannot be reached is one clear line, never a rate limit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gemtui import exitcodes

ROOT = Path(__file__).resolve().parents[1]


class ForwardingProxy:
    """A tiny loopback HTTP proxy (absolute-form requests, no CONNECT): one request per connection,
    forwarded to the origin with `Connection: close`, the answer piped back. Counts what it carried."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.urls: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, url, version = lines[0].split(" ")
            headers = [line for line in lines[1:] if not line.lower().startswith(("connection:", "proxy-"))]
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            while len(body) < length:
                body += client.recv(65536)
            self.urls.append(url)
            host_port, _, path = url.removeprefix("http://").partition("/")
            host, _, port = host_port.partition(":")
            with socket.create_connection((host, int(port or 80))) as origin:
                request = f"{method} /{path} {version}\r\n" + "\r\n".join(headers + ["Connection: close"])
                origin.sendall(request.encode("latin-1") + b"\r\n\r\n" + body)
                while chunk := origin.recv(65536):
                    client.sendall(chunk)

    def close(self) -> None:
        self.sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gemtui(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "GEMINI_API_KEY": "demo-key", **env}
    return subprocess.run(
        [sys.executable, "-m", "gemtui", *argv], capture_output=True, text=True, env=full, cwd=ROOT, timeout=120
    )


@pytest.fixture
def proxy():
    server = ForwardingProxy()
    yield server
    server.close()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_the_environments_proxy_carries_every_request(emulator, proxy, variable):
    done = gemtui(
        "ask",
        "--endpoint",
        emulator.base_url,
        "--model",
        "flash",
        "hi [[tokens=10]]",
        env={variable: proxy.url, "NO_PROXY": ""},
    )
    assert done.returncode == exitcodes.EXIT_OK and done.stdout.strip(), done.stderr
    assert proxy.urls and all(u.startswith(emulator.base_url + "/") for u in proxy.urls)
    assert any(":streamGenerateContent" in u for u in proxy.urls)


def test_a_profiles_proxy_carries_its_requests(secret_service, emulator, proxy, monkeypatch, capsys):
    import io

    from gemtui.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("demo-key\n"))
    assert main(["auth", "add", "via", "--endpoint", emulator.base_url, "--proxy", proxy.url]) == 0
    assert main(["ask", "--model", "flash", "hi [[tokens=10]]"]) == 0
    out, err = capsys.readouterr()
    assert proxy.urls and f"proxy {proxy.url}" in out


def test_a_dead_proxy_is_one_clear_line_never_a_rate_limit(emulator):
    dead = f"http://127.0.0.1:{_closed_port()}"
    done = gemtui(
        "ask", "--endpoint", emulator.base_url, "--model", "flash", "hi", env={"HTTP_PROXY": dead, "NO_PROXY": ""}
    )
    assert done.returncode == exitcodes.EXIT_UNREACHABLE and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert f"cannot reach {emulator.base_url}/… through the proxy {dead}:" in line
    said = line.replace(emulator.base_url, "EMULATOR").replace(dead, "PROXY")  # a port may hold "429"
    assert "rate" not in said and "429" not in said


def test_a_socks_proxy_without_socksio_is_one_usage_line(emulator):
    try:
        import socksio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("socksio is installed: SOCKS proxies work here")
    done = gemtui(
        "ask",
        "--endpoint",
        emulator.base_url,
        "--model",
        "flash",
        "hi",
        env={"ALL_PROXY": "socks5://127.0.0.1:1", "NO_PROXY": ""},
    )
    assert done.returncode == exitcodes.EXIT_USAGE
    (line,) = done.stderr.strip().splitlines()
    assert "SOCKS" in line and "pip install socksio" in line


def test_the_auth_screen_names_headers_and_proxy_but_no_values():
    from types import SimpleNamespace

    from gemtui.tui.screens.auth import describe_runtime

    rt = SimpleNamespace(
        profile_name="relay",
        api_key="AIzaSyABCDEFGHIJKLMNOP",
        endpoint="https://r.example/acc-T0K",
        project="p",
        tier="free",
        backup=None,
        headers=(("X-Relay-Key", "rk-SECRET"),),
        proxy="http://me:PW-SECRET@proxy.example:3128",
    )
    text = describe_runtime(rt)
    assert "https://r.example/…" in text and "headers X-Relay-Key" in text and "via http://proxy.example:3128/…" in text
    assert "SECRET" not in text and "T0K" not in text
