"""A real redis-server for the team ledger's tests: one per test session on a free loopback port.

CI installs Debian's redis-server (.ci/system-setup.sh); there a missing binary fails loudly rather than
skipping the team ledger's tests. Elsewhere they are skipped when no redis-server is installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, decode_responses=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir) -> RedisServer:
    """redis-server on a free loopback port, no persistence; returns once PING answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: CI must install it (.ci/system-setup.sh)")
        pytest.skip("redis-server is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)
    client = server.client()
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                break
        except Exception:  # noqa: BLE001  (not listening yet)
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.02)
    client.close()
    return server


def stop_redis(server: RedisServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    stop_redis(server)


@pytest.fixture
def redis_client(redis_server):
    """A client on the session's server, emptied before and after the test."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()
