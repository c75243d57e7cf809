"""The command line answers --help and --version without paying for google.genai or textual."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import sys, io, contextlib
from gemtui.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        main([{arg!r}])
    except SystemExit:
        pass
heavy = sorted(m for m in sys.modules if m.startswith(("google.genai", "textual", "starlette", "uvicorn")))
print(__import__("json").dumps({{"out": buf.getvalue(), "heavy": heavy}}))
"""


def _probe(arg: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.format(arg=arg)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_nothing_heavy():
    result = _probe("--help")
    assert "ask" in result["out"] and "exit status" in result["out"]
    assert result["heavy"] == []


def test_version_imports_nothing_heavy():
    from gemtui import __version__

    result = _probe("--version")
    assert __version__ in result["out"]
    assert result["heavy"] == []


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "gemtui", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("gemtui ")
