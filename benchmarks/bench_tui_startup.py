"""Cold start to first paint: `gemtui --demo`'s app against a bare Textual app, in the same run.

Each sample is a fresh interpreter (cold imports from compiled bytecode, as after `pip install`),
run headless; the time from spawning it to the first frame of its main screen (the child prints a
line right after the compositor drew it) is compared; samples alternate between the two apps and
the medians are reported. Target: gemtui ≤ 1.3× the bare app. The child also reports whether
google.genai had been imported by the first paint (it must not be).

    python benchmarks/bench_tui_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Both children report "painted" from the same hook: right after the compositor has drawn the screen
# the app opens on (the bare app's default screen, gemtui's ChatScreen) for the first time. Timing
# from `App.on_mount` + `call_after_refresh` instead would be unfair to gemtui, whose ChatScreen is
# pushed in on_mount: the app-level callback can fire after the empty default screen's refresh.
HOOK = """
import sys, time
from textual.screen import Screen

_draw = Screen._compositor_refresh

def _first_paint(self):
    _draw(self)
    if not getattr(_first_paint, "done", False) and self.is_current and is_target(self):
        _first_paint.done = True
        print("genai-at-first-paint=" + str("google.genai" in sys.modules), flush=True)
        print("painted", flush=True)
        self.app.call_later(self.app.exit, 0)

Screen._compositor_refresh = _first_paint
"""

BARE = (
    HOOK
    + """
from textual.app import App
from textual.widgets import Footer, Header, Static

def is_target(screen):
    return screen is screen.app.screen_stack[0]

class Bare(App):
    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()

Bare().run(headless=True, size=(120, 40))
"""
)

GEMTUI = (
    HOOK
    + """
import argparse
from gemtui.tui.app import GemtuiApp
from gemtui.config import load_config

def is_target(screen):
    return type(screen).__name__ == "ChatScreen"

def opener():
    from gemtui.commands._runtime import open_runtime
    return open_runtime(argparse.Namespace(demo=True), load_config())

GemtuiApp(opener, config=load_config(), demo=True).run(headless=True, size=(120, 40))
"""
)


def sample(code: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawning the interpreter to the child's "painted" line (its first frame)."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
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
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[var] = str(Path(tmp) / var.lower())
        env["PYTHONPATH"] = str(ROOT)
        # Run from compiled bytecode, as an installed gemtui does (pip compiles a wheel's modules, and
        # Textual's were compiled when it was installed). With PYTHONDONTWRITEBYTECODE set, as on some
        # machines, the source tree was compiled again in every sample: ~25 ms charged to gemtui alone.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        compileall.compile_dir(ROOT / "gemtui", quiet=1)
        sample(BARE, env), sample(GEMTUI, env)  # warm the OS file cache and .pyc files once
        bare, ours, flags = [], [], set()
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            bare.append(sample(BARE, env)[0])
            elapsed, out = sample(GEMTUI, env)
            ours.append(elapsed)
            flags.update(line for line in out.splitlines() if line.startswith("genai-at-first-paint="))
    b, g = statistics.median(bare), statistics.median(ours)
    paired = statistics.median(y / x for x, y in zip(bare, ours, strict=True))
    print(f"bare Textual app   median {b * 1000:7.1f} ms  ({args.runs} runs, fastest {min(bare) * 1000:.1f})")
    print(f"gemtui --demo app  median {g * 1000:7.1f} ms  (fastest {min(ours) * 1000:.1f})")
    print(
        f"ratio              {g / b:.2f}x  (target <= 1.30x; median of the {args.runs} back-to-back pairs "
        f"{paired:.2f}x, fastest to fastest {min(ours) / min(bare):.2f}x)"
    )
    print(f"google.genai imported before first paint: {'yes' if 'genai-at-first-paint=True' in flags else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
