"""Cold start to first paint: `gemtui --demo`'s app against a bare Textual app, in the same run.

Each sample is a fresh interpreter (cold imports), run headless; the time from spawning it to its
first frame (the child prints a line then) is compared. Target: gemtui ≤ 1.3× the bare app. The child
also reports whether google.genai had been imported by the first paint (it must not be).

    python benchmarks/bench_tui_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE = """
import time, sys
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App):
    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self._painted)
    def _painted(self):
        print("painted", flush=True)
        self.exit()

Bare().run(headless=True, size=(120, 40))
"""

GEMTUI = """
import sys, argparse
from gemtui.tui.app import GemtuiApp
from gemtui.config import load_config

class Timed(GemtuiApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self._painted)
    def _painted(self):
        print("genai-at-first-paint=" + str("google.genai" in sys.modules), flush=True)
        print("painted", flush=True)
        self.exit(0)

def opener():
    from gemtui.commands._runtime import open_runtime
    return open_runtime(argparse.Namespace(demo=True), load_config())

Timed(opener, config=load_config(), demo=True).run(headless=True, size=(120, 40))
"""


def sample(code: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawning the interpreter to the child's "painted" line (its first frame)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    seen: list[str] = []
    elapsed = float("nan")
    assert child.stdout is not None
    for line in child.stdout:
        seen.append(line.strip())
        if line.startswith("painted"):
            elapsed = time.perf_counter() - start
            break
    child.stdout.read()
    child.wait(timeout=60)
    return elapsed, "\n".join(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[var] = str(Path(tmp) / var.lower())
        env["PYTHONPATH"] = str(ROOT)
        sample(BARE, env), sample(GEMTUI, env)  # warm the OS file cache and .pyc files once
        bare, ours, flags = [], [], set()
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            bare.append(sample(BARE, env)[0])
            elapsed, out = sample(GEMTUI, env)
            ours.append(elapsed)
            flags.update(line for line in out.splitlines() if line.startswith("genai-at-first-paint="))
    b, g = statistics.median(bare), statistics.median(ours)
    print(f"bare Textual app   median {b * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"gemtui --demo app  median {g * 1000:7.1f} ms")
    print(f"ratio              {g / b:.2f}x  (target <= 1.30x)")
    print(f"google.genai imported before first paint: {'yes' if 'genai-at-first-paint=True' in flags else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
