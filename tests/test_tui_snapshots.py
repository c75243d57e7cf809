"""Snapshots of the main states: normal, warning, critical, queue with items, fallback notice, blocked for the day.

The engine reads a frozen clock and the local zone is pinned, so countdowns and reset times are the
same on every run; conversations come from the sessions store (fixed labels), never from a live stream,
except the fallback notice, whose latency is pinned.
"""

from __future__ import annotations

import asyncio
import html
import re
import time

import pytest

from gemtui.chat.sessions import SessionStore
from gemtui.quota.limits import FLASH, PRO
from gemtui.quota.pacific import next_midnight
from gemtui.tui.textual_compat import clear_line_cache
from tests.tui_helpers import FrozenClock, fill, make_app, ready, submit, until

SIZE = (120, 34)


@pytest.fixture(autouse=True)
def pinned_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def frozen(emulator, emulator_clock):
    from tests.fixtures_emulator import EMULATOR_T0

    t = EMULATOR_T0 + 0.5  # exact, so countdowns never straddle a second boundary between runs
    emulator_clock.set(t, running=False)
    return FrozenClock(t)


def _seed_conversation() -> None:
    store = SessionStore()
    conv = store.create(title="rate limits")
    store.append(conv.id, "user", "What does RPM mean?")
    store.append(
        conv.id,
        "model",
        "**RPM** is *requests per minute*: the number of calls one project may make "
        "to one model in any rolling 60-second window.",
        model=PRO,
        input_tokens=9,
        output_tokens=24,
        latency_s=1.2,
    )
    store.close()


def _screen_text(pilot) -> str:
    """The screen as rows of plain text (from the SVG export), to print when a picture differs."""
    svg = pilot.app.export_screenshot()
    rows: dict[float, list[str]] = {}
    for match in re.finditer(r'<text[^>]*y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(match.group(1)), []).append(html.unescape(match.group(2)))
    return "\n".join("".join(rows[y]).replace("\xa0", " ") for y in sorted(rows))


async def _settled(pilot, timeout: float = 20.0) -> str:
    """Wait until two exports a beat apart are the same: on a loaded machine a store write or a
    layout pass can land after the state a test waited for, and the picture must not catch it midway."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    previous = None
    while True:
        await pilot.pause(0.2)
        current = _screen_text(pilot)
        if current == previous or loop.time() > deadline:
            return current
        previous = current


def _snap(snap_compare, app, run_before=None):
    shown: list[str] = []

    async def before(pilot):
        screen = await ready(pilot)
        screen.composer.area.cursor_blink = False  # a blinking cursor would make pictures differ
        # TextArea's line cache key does not tell "blink off phase" from "not blinking", so a line drawn
        # in an off phase would be reused without its cursor: draw it afresh.
        clear_line_cache(screen.composer.area)
        screen.composer.area.refresh()
        if run_before is not None:
            await run_before(pilot)
        await pilot.pause(0.4)
        pilot.app.clear_notifications()  # toasts time out by wall clock: keep them out of the pictures
        shown.append(await _settled(pilot))

    same = snap_compare(app, terminal_size=SIZE, run_before=before)
    if not same and shown:
        print("the screen when the picture was taken:\n" + shown[-1])  # in CI's log, where no report is kept
    return same


def test_snapshot_normal(snap_compare, emulator, frozen):
    _seed_conversation()
    app = make_app(emulator, frozen, resume="")
    assert _snap(snap_compare, app)


def _with_usage(emulator, frozen, used_model: str, requests: int, tokens: int = 10, **kwargs):
    _seed_conversation()
    app = make_app(emulator, frozen, resume="", **kwargs)

    async def use(pilot):
        fill(pilot.app.runtime, used_model, requests, tokens)
        pilot.app.screen.refresh_gauges()

    return app, use


def test_snapshot_warning(snap_compare, emulator, frozen):
    app, use = _with_usage(emulator, frozen, PRO, 4)
    assert _snap(snap_compare, app, use)


def test_snapshot_critical(snap_compare, emulator, frozen):
    app, use = _with_usage(emulator, frozen, PRO, 5, tokens=40_000)
    assert _snap(snap_compare, app, use)


def test_snapshot_queue_with_items(snap_compare, emulator, frozen):
    app, use = _with_usage(emulator, frozen, PRO, 5, model="pro")

    async def queue(pilot):
        await use(pilot)
        for prompt in ("Summarise the ledger design", "And the emulator?", "Compare both in a table"):
            await submit(pilot, prompt)
        await until(pilot, lambda: len(pilot.app.screen.waiting_here()) == 3)

    assert _snap(snap_compare, app, queue)


def test_snapshot_fallback_notice(snap_compare, emulator, frozen, monkeypatch):
    import types

    import gemtui.chat.sender as sender

    monkeypatch.setattr(sender, "time", types.SimpleNamespace(monotonic=lambda: 100.0))
    app, use = _with_usage(emulator, frozen, PRO, 5)

    async def switch(pilot):
        await use(pilot)
        await submit(pilot, "Pro is busy, who answers?")
        screen = pilot.app.screen
        await until(
            pilot,
            lambda: any(
                " out" in m._label for m in screen.conversation.messages() if m.role == "model" and m.msg_id != 2
            ),
        )

    assert _snap(snap_compare, app, switch)


def test_snapshot_blocked_for_the_day(snap_compare, emulator, frozen):
    _seed_conversation()
    app = make_app(emulator, frozen, resume="")

    async def block(pilot):
        runtime = pilot.app.runtime
        until_ms = int(next_midnight(frozen.now()) * 1000)
        fill(runtime, PRO, 3)
        for model in (PRO, FLASH):
            runtime.engine.ledger.set_block(runtime.project, model, "rpd", until_ms)
        pilot.app.screen.refresh_gauges()

    assert _snap(snap_compare, app, block)


def test_snapshot_fallback_gauges(snap_compare, emulator, frozen):
    """Every dimension of each fallback with its reset; a blocked one on a line of its own, time in full."""
    from gemtui.quota.limits import LITE

    _seed_conversation()
    app = make_app(emulator, frozen, resume="")

    async def use_fallbacks(pilot):
        runtime = pilot.app.runtime
        fill(runtime, PRO, 2, tokens=1_200)
        fill(runtime, FLASH, 12, tokens=20_000)
        fill(runtime, LITE, 3, tokens=500)
        runtime.engine.ledger.set_block(runtime.project, LITE, "rpm", int((frozen.now() + 42) * 1000))
        pilot.app.screen.refresh_gauges()

    assert _snap(snap_compare, app, use_fallbacks)


def test_snapshot_quit_dialog(snap_compare, emulator, frozen):
    """Ctrl+Q with prompts waiting: keep them for next time, cancel them, or go back."""
    app, use = _with_usage(emulator, frozen, PRO, 5, model="pro")

    async def quit_with_queue(pilot):
        from gemtui.tui.screens.quit import QuitDialog

        await use(pilot)
        for prompt in ("Summarise the ledger design", "And the emulator?"):
            await submit(pilot, prompt)
        screen = pilot.app.screen
        await until(
            pilot,
            lambda: (
                len(screen.waiting_items()) == 2 and str(screen.query_one("#status").render()).startswith("waiting for")
            ),
            timeout=20,
        )
        await pilot.pause(0.3)
        pilot.app.clear_notifications()  # before the dialog: its screen would show them again
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(pilot.app.screen, QuitDialog), timeout=20)

    assert _snap(snap_compare, app, quit_with_queue)
