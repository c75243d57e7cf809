"""Emulator fixtures: one real loopback server per test session, reset before every test that uses it.

The server reads a `ManualClock` (the `emulator_clock` fixture) so quota tests jump across minutes and
Pacific midnights instead of sleeping. Before each test the clock is set to `EMULATOR_T0` and runs at real
speed from there, so tests that only send a few requests see ordinary time, and a minute boundary never
falls inside a test by accident.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest

from gemtui.emulator import Emulator, ManualClock

# 10:00:00 Pacific on an ordinary summer Monday, exactly on a minute boundary.
EMULATOR_T0 = dt.datetime(2025, 6, 16, 10, 0, 0, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()

# Keys the shared server accepts besides demo-key -> demo.
EMULATOR_KEYS = {
    "demo-key": "demo",
    "key-a": "proj-shared",
    "key-b": "proj-shared",
    "key-c": "proj-other",
}


@pytest.fixture(scope="session")
def emulator_clock() -> ManualClock:
    return ManualClock(EMULATOR_T0, running=True)


@pytest.fixture(scope="session")
def emulator_server(emulator_clock):
    emu = Emulator(clock=emulator_clock, ttft_s=0.01, tokens_per_s=20000.0, keys=dict(EMULATOR_KEYS))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator(emulator_server, emulator_clock):
    """The shared server with usage, faults, ghosts, keys, tiers, limits and pacing back to defaults."""
    emulator_clock.set(EMULATOR_T0, running=True)
    emulator_server.reset(everything=True)
    yield emulator_server
    emulator_server.reset(everything=True)


@pytest.fixture
def make_client(emulator):
    """make_client(key="demo-key", api_version="v1beta", **http_options) -> a real genai.Client."""
    from google import genai
    from google.genai import types

    def build(key: str = "demo-key", api_version: str = "v1beta", **http_options):
        options = types.HttpOptions(base_url=emulator.base_url, api_version=api_version, **http_options)
        return genai.Client(api_key=key, http_options=options)

    return build


def emulator_http(emulator, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON request to the emulator over real HTTP (its admin and relay routes): (status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        emulator.base_url + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
