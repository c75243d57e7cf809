"""`gemtui ask --batch`'s progress line: its countdowns move with the clock between events, and its
ETA includes the quota waits ahead."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

import pytest

from gemtui.chat.batch import run_batch, single_turn_request
from gemtui.chat.queue import RequestQueue
from gemtui.chat.sender import Request
from gemtui.commands._batch import ProgressLine
from gemtui.gemini.client import make_client
from gemtui.quota.engine import QuotaEngine, RequestCost
from gemtui.quota.limits import PRO
from tests.tui_helpers import GatedClock


def clock_value(line: str, label: str) -> int:
    """Seconds in `next in 0:51` / `ETA 12:40` / `ETA 1:02:05` of a progress line."""
    found = re.search(rf"{label} (?:(\d+):)?(\d+):(\d\d)", line)
    assert found, line
    hours, minutes, secs = (int(g or 0) for g in found.groups())
    return hours * 3600 + minutes * 60 + secs


async def settle(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_next_in_and_eta_count_down_and_the_eta_includes_the_quota_waits(emulator, emulator_clock, tmp_path):
    emulator_clock.set(round(emulator_clock()), running=False)  # only the test moves time
    clock = GatedClock(emulator_clock)  # the dispatcher's wait blocks until the gate opens
    engine = QuotaEngine(clock=clock, ledger_path=tmp_path / "ledger.sqlite3", tier="free")
    for _ in range(5):  # Pro's RPM 5 is full for the next minute
        admission = engine.try_reserve("proj-other", PRO, RequestCost(input_tokens=10))
        engine.commit(admission.reservation_id, input_tokens=10)
    line = ProgressLine(io.StringIO(), clock.now)
    shown: list[str] = []
    batch = asyncio.ensure_future(
        run_batch(
            [f"question {n} [[tokens=10]]" for n in range(65)],
            engine=engine,
            client=make_client("key-c", emulator.base_url),
            project="proj-other",
            make_request=single_turn_request(Request(turns=[], preference="pro")),
            on_result=lambda _result: None,
            on_progress=lambda progress: shown.append(line.render(progress)),
            queue=RequestQueue(tmp_path / "q.sqlite3"),
            tick_s=0.02,
        )
    )
    try:
        await settle(lambda: clock.sleepers == 1 and shown)
        first = shown[-1]
        assert "0/65" in first and clock_value(first, "next in") == 60
        # 65 prompts at 5 a minute behind a full minute: 13 minutes, not the seconds of an answer.
        assert clock_value(first, "ETA") == 13 * 60
        count = len(shown)
        emulator_clock.advance(20)  # nothing happens in the batch: only the clock moves
        await settle(lambda: len(shown) > count + 2 and clock_value(shown[-1], "next in") == 40)
        assert clock_value(shown[-1], "ETA") == 13 * 60 - 20
        assert clock.sleepers == 1, "no new event: the same wait, redrawn"
    finally:
        batch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batch
        engine.close()


def test_a_plain_progress_stream_gets_a_line_per_change_not_per_tick():
    from gemtui.chat.batch import BatchProgress

    now = [1000.0]
    stream = io.StringIO()
    line = ProgressLine(stream, lambda: now[0])
    progress = BatchProgress(total=3, waiting_until=1060.0, waiting_reason="RPM", finish_at=1200.0)
    for _ in range(5):  # five ticks a second apart, only the countdowns move
        line.update(progress)
        now[0] += 1
    progress.done = 1
    line.update(progress)
    written = stream.getvalue().splitlines()
    assert len(written) == 2 and "1/3" in written[-1]
    now[0] += ProgressLine.PLAIN_EVERY_S
    line.update(progress)
    assert len(stream.getvalue().splitlines()) == 3, "a long wait still shows signs of life"
