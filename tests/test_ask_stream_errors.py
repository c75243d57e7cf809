"""A stream that ends in an error event, as a user's shell sees it: exactly one line on stderr (after any
retry notices), the documented exit status, and none of asyncio's generator-closing noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemtui import exitcodes

ROOT = Path(__file__).resolve().parents[1]


def gemtui(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GEMINI_API_KEY": "demo-key"}
    return subprocess.run(
        [sys.executable, "-m", "gemtui", *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


@pytest.mark.parametrize("after_chunks,count,retries", [(3, 1, 0), (0, 5, 4)])
def test_a_stream_ended_by_an_error_event_prints_exactly_one_line(emulator, after_chunks, count, retries):
    """No `aclose(): asynchronous generator is already running` after gemtui's own line, whether the
    error came after part of the answer (kept on stdout) or every attempt failed before any text."""
    from gemtui import paths

    # Every retry is the point here, so the circuit breaker must not open on the way (it would wait
    # for its probe, 30 s of real time, and add its own notice).
    paths.config_file().write_text("[breaker]\nmin_requests = 1000\n", encoding="utf-8")
    emulator.set_fault("stream_error", count=count, after_chunks=after_chunks, model="gemini-2.5-flash")
    done = gemtui("ask", "--endpoint", emulator.base_url, "--model", "flash", "long answer [[tokens=300]]")
    assert done.returncode == exitcodes.EXIT_SERVER
    lines = done.stderr.strip().splitlines()
    assert len(lines) == retries + 1, done.stderr
    assert all("retrying gemini-2.5-flash" in line for line in lines[:-1])
    assert lines[-1].startswith("gemtui: server error (500 INTERNAL)")
    assert bool(done.stdout.strip()) == (after_chunks > 0)
