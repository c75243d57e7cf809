"""Start-up as a fresh process sees it: what the first frame waits for, and quitting right after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Draws the app headless and quits right after the chat screen's first frame, before the work that
# follows that frame (side panels, footer, the runtime) has run; reports what was imported by then.
CHILD = """
import sys
from textual.screen import Screen
from gemtui.tui.app import GemtuiApp

draw = Screen._compositor_refresh

def first_frame(self):
    draw(self)
    if type(self).__name__ == "ChatScreen" and not getattr(first_frame, "seen", False):
        first_frame.seen = True
        loaded = [name for name in ("google.genai", "gemtui.tui.widgets.quota_panel",
                                    "gemtui.tui.widgets.queue_panel", "textual.widgets._list_view",
                                    "gemtui.tui.widgets.answer_block", "textual.widgets._markdown",
                                    "gemtui.chat.turn_runner", "gemtui.providers", "openai", "redis")
                  if name in sys.modules]
        print("loaded-at-first-frame=" + ",".join(loaded), flush=True)
        self.app.exit(0)

Screen._compositor_refresh = first_frame

def opener():
    raise RuntimeError("not reached before the first frame")

sys.exit(GemtuiApp(opener).run(headless=True, size=(100, 30)) or 0)
"""


def test_first_frame_waits_for_neither_the_sdk_nor_the_later_widgets_and_quitting_then_is_clean():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "loaded-at-first-frame=\n" in done.stdout
    # Quitting before the follow-up of the first frame ran once printed a MountError traceback.
    assert "Traceback" not in done.stderr and "Error" not in done.stderr and "Error" not in done.stdout


# Waits for start-up's background work, then reports what it left ready for the first answer.
SETTLED_CHILD = """
import gc, sys
from pathlib import Path
import gemtui.tui.app
from gemtui.tui.app import GemtuiApp

class App(GemtuiApp):
    CSS_PATH = str(Path(gemtui.tui.app.__file__).parent / GemtuiApp.CSS_PATH)  # this file has no folder

    async def on_ready(self):
        await self.settled.wait()
        ready = [name for name in ("gemtui.tui.widgets.answer_block", "textual.widgets._markdown", "markdown_it",
                                   "pygments.lexers.python")
                 if name in sys.modules]
        print("ready=" + ",".join(ready) + " frozen=" + str(gc.get_freeze_count() > 0), flush=True)
        self.exit(0)

sys.exit(App(None).run(headless=True, size=(100, 30)) or 0)
"""


def test_start_up_leaves_markdown_and_the_highlighter_loaded_and_the_heap_settled():
    """Imported mid-answer, the first code fence stalled the app for 40 ms, and the first settle walked
    everything start-up made: both are done in the background after the first frame."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", SETTLED_CHILD], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (
        "ready=gemtui.tui.widgets.answer_block,textual.widgets._markdown,markdown_it,pygments.lexers.python frozen=True"
    ) in done.stdout
