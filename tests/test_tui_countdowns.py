"""Countdowns move on their own: the status line's wait, the ask dialog's wait, each from the screen's
clock (the engine's), at every tick, with no new event from the sender."""

from __future__ import annotations

import re

import pytest

from gemtui.config import Config
from gemtui.quota.limits import PRO
from tests.tui_helpers import GatedClock, SharedClock, fill, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio


def seconds(text: str) -> int:
    """The first `m:ss` wait in `text` (after "in " or "Wait "), in seconds."""
    found = re.search(r"(?:in|Wait|\() ?(\d+):(\d\d)\b", text)
    assert found, text
    return int(found[1]) * 60 + int(found[2])


async def test_the_status_line_wait_counts_down_from_the_clock(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)  # the sender sleeps its wait until the test opens the gate
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "wait for pro")
        await until(pilot, lambda: clock.sleepers == 1)
        status = screen.query_one("#status")
        await until(pilot, lambda: f"waiting for {PRO} (" in str(status.content))
        first = seconds(str(status.content))
        assert 50 <= first <= 60
        emulator_clock.advance(20)  # no event from the sender: only the clock moves
        await until(pilot, lambda: seconds(str(status.content)) <= first - 20)
        assert str(status.content).startswith(f"waiting for {PRO} (")
        clock.gate.set()
        await until(pilot, lambda: "waiting for" not in str(status.content), timeout=20)


async def test_the_ask_dialog_wait_counts_down_while_it_is_open(emulator, emulator_clock):
    from textual.widgets import Button

    from gemtui.tui.screens.ask import AskDialog

    config = Config({"general": {"on_limit": "ask"}})
    app = make_app(emulator, SharedClock(emulator_clock), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "ask me")
        await until(pilot, lambda: isinstance(app.screen, AskDialog))
        dialog = app.screen
        button = dialog.query_one("#wait", Button)
        first = seconds(str(button.label))
        assert 50 <= first <= 60
        emulator_clock.advance(30)
        await until(pilot, lambda: seconds(str(button.label)) <= first - 30)
        body = dialog.query_one("#ask-body")  # the text says the same
        assert seconds(str(body.content)) == seconds(str(button.label))
        emulator_clock.advance(40)  # past the wait: the dialog says so rather than 0:00 forever
        await until(pilot, lambda: "free now" in str(button.label))
        assert "free again" in str(body.content)
        await pilot.press("c")


async def test_the_status_line_retry_wait_counts_down_too(emulator, emulator_clock):
    emulator.set_fault("internal", count=1)  # one 500: the sender backs off, then retries
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        app.runtime.engine.random = lambda: 0.99  # the jitter's top: a wait long enough to be seen counting
        await submit(pilot, "retry me")
        status = screen.query_one("#status")
        await until(pilot, lambda: clock.sleepers == 1 and f"retrying {PRO} in " in str(status.content))
        first = seconds(str(status.content))
        assert first >= 1
        emulator_clock.advance(first)
        await until(pilot, lambda: seconds(str(status.content)) == 0)
        assert f"retrying {PRO} in 0:00" in str(status.content)
        clock.gate.set()
        await until(pilot, lambda: "retrying" not in str(status.content), timeout=20)
