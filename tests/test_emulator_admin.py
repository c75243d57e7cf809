"""Admin endpoints, the Emulator object's lifecycle and time model, and `gemtui emulator` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from gemtui.emulator import Emulator, ManualClock
from tests.fixtures_emulator import emulator_http as call

ROOT = Path(__file__).resolve().parents[1]


def test_health(emulator):
    status, body = call(emulator, "GET", "/_emulator/health")
    assert status == 200 and body["status"] == "ok"
    assert "gemini-2.5-pro" in body["models"]
    assert abs(body["now"] - emulator.now()) < 5


def test_fault_over_http(emulator, make_client):
    status, body = call(emulator, "POST", "/_emulator/fault", {"kind": "overloaded", "count": 2})
    assert status == 200 and body["faults"][0]["count"] == 2
    client = make_client()
    with pytest.raises(errors.ServerError):
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    status, body = call(emulator, "POST", "/_emulator/fault", {"clear": True})
    assert body["faults"] == []
    assert client.models.generate_content(model="gemini-2.5-flash", contents="x").text


def test_invisible_counters_ghost_and_reset_over_http(emulator, emulator_clock):
    emulator_clock.running = False
    status, body = call(
        emulator,
        "POST",
        "/_emulator/invisible",
        {"project": "demo", "model": "gemini-2.5-pro", "requests": 2, "input_tokens": 50},
    )
    assert status == 200
    status, counters = call(emulator, "GET", "/_emulator/counters")
    assert counters["demo"]["gemini-2.5-pro"]["rpm"] == 2
    assert counters["demo"]["gemini-2.5-pro"]["tpm"] == 50
    assert counters["demo"]["gemini-2.5-pro"]["ghost_requests"] == 2
    status, _ = call(
        emulator,
        "POST",
        "/_emulator/ghost",
        {"project": "demo", "model": "gemini-2.5-pro", "rpm": 6, "input_tokens": 0},
    )
    assert status == 200
    emulator_clock.advance(20)
    assert call(emulator, "GET", "/_emulator/counters")[1]["demo"]["gemini-2.5-pro"]["ghost_requests"] == 4
    status, body = call(emulator, "POST", "/_emulator/reset")
    assert status == 200
    assert call(emulator, "GET", "/_emulator/counters")[1] == {}


def test_tier_over_http(emulator):
    status, body = call(emulator, "POST", "/_emulator/tier", {"project": "demo", "tier": "tier1"})
    assert status == 200 and body["tier"] == "tier1"
    assert emulator.limits("gemini-2.5-pro")["rpm"] == 150


def test_bad_admin_requests(emulator):
    assert call(emulator, "POST", "/_emulator/fault", {"kind": "gremlins"})[0] == 400
    assert call(emulator, "POST", "/_emulator/invisible", {"nope": 1})[0] == 400
    status, body = call(emulator, "GET", "/_emulator/teleport")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


def test_lifecycle_context_manager_and_free_port():
    with Emulator(ttft_s=0, tokens_per_s=1e6) as emu:
        assert emu.port > 0
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        with urllib.request.urlopen(emu.base_url + "/_emulator/health", timeout=5) as resp:
            assert resp.status == 200
        url = emu.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/_emulator/health", timeout=2)
    with pytest.raises(RuntimeError):
        _ = emu.base_url


def test_non_loopback_host_is_refused():
    with pytest.raises(ValueError):
        Emulator(host="0.0.0.0")


def test_time_is_epoch_plus_scaled_elapsed():
    emu = Emulator(epoch=1_000_000.0, speed=60.0)
    time.sleep(0.05)
    assert 1_000_000.0 + 60 * 0.05 <= emu.now() < 1_000_000.0 + 60 * 1.0
    clock = ManualClock(5_000.0)
    assert Emulator(epoch=1.0, clock=clock).now() == 5_000.0  # an injected clock wins


def test_pacing_is_in_emulator_seconds():
    with Emulator(ttft_s=3.0, tokens_per_s=100.0, speed=30.0) as emu:  # 3 s ttft = 0.1 s real
        client = genai.Client(
            api_key="demo-key", http_options=types.HttpOptions(base_url=emu.base_url, api_version="v1")
        )
        started = time.monotonic()
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="pace me [[tokens=60]]"))
        elapsed = time.monotonic() - started
        # 3 s ttft + ~0.6 s of tokens in emulator time -> ~0.12 s real
        assert 0.1 <= elapsed < 1.5
        assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
        emu.set_pacing(ttft_s=0.0, tokens_per_s=1e6)
        started = time.monotonic()
        client.models.generate_content(model="gemini-2.5-flash", contents="fast now")
        assert time.monotonic() - started < 0.5


def _cli(*args: str, preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "gemtui", "emulator", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def test_cli_serves_until_ctrl_c():
    proc = _cli("--port", "0", "--key", "k1=p1", "--fault", "overloaded:1", "--ttft", "0")
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("gemtui emulator: listening on http://127.0.0.1:")
        assert line.endswith("(tier free; keys: k1→p1)")
        base_url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        client = genai.Client(api_key="k1", http_options=types.HttpOptions(base_url=base_url))
        with pytest.raises(errors.ServerError):
            client.models.generate_content(model="gemini-2.5-flash", contents="x")
        assert client.models.generate_content(model="gemini-2.5-flash", contents="x").text
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_cli_refuses_a_public_host():
    proc = _cli("--host", "0.0.0.0")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and "loopback" in err


def test_the_request_log_names_part_kinds_and_digests(emulator, make_client):
    import hashlib

    from gemtui.emulator.textgen import make_png

    png = make_png("logged", 1)
    pdf = b"%PDF-1.4\n<< /Type /Page >>\n<< /Type /Page >>\n%%EOF"
    client = make_client()
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part.from_bytes(data=png, mime_type="image/png"),
                types.Part.from_bytes(data=pdf, mime_type="application/pdf"),
                types.Part(text="what are these?"),
            ],
        )
    ]
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=contents)
    assert counted.total_tokens == 258 + 2 * 258 + 4, "an image, two PDF pages, three words and a mark"
    client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    status, body = call(emulator, "GET", "/_emulator/requests")
    assert status == 200 and body["requests"] == emulator.requests()
    count, generate = body["requests"]
    assert (count["method"], generate["method"]) == ("countTokens", "generateContent")
    parts = generate["contents"][0]["parts"]
    assert [p["kind"] for p in parts] == ["inline:image/png", "inline:application/pdf", "text"]
    assert parts[0]["sha256"] == hashlib.sha256(png).hexdigest() and parts[1]["bytes"] == len(pdf)
    emulator.reset()
    assert emulator.requests() == []


def test_cli_stops_on_sigint_even_when_started_with_sigint_ignored():
    """A background job of a non-interactive shell starts with SIGINT ignored; `kill -INT` must still stop
    the emulator cleanly (this is how a full test run in the background first met it)."""
    proc = _cli("--port", "0", "--key", "k1=p1", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert proc.stdout.readline().startswith("gemtui emulator: listening on")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
