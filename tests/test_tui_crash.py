"""An unhandled exception stops the app honestly: status 1, one line, the traceback in the log file,
and the queue and the conversation left as the next start expects them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gemtui import log, paths
from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.commands.tui import exit_status
from gemtui.tui import slash
from gemtui.tui.screens.chat import ChatScreen
from tests.tui_helpers import SharedClock, answers, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio

SECRET = "AIzaSyC-crash-test-key-never-shown-42"


@pytest.fixture
def logfile():
    path = log.setup()
    log.add_secrets(SECRET)
    yield path
    log.stop()


async def test_a_crash_in_a_handler_exits_1_with_one_line_and_settles_the_queue(
    emulator, emulator_clock, monkeypatch, logfile, capsys
):
    emulator.set_pacing(ttft_s=0.05, tokens_per_s=40)  # a long answer: still streaming at the crash

    def explode(_screen):
        raise RuntimeError(f"panel key exploded near {SECRET}")

    monkeypatch.setattr(ChatScreen, "action_toggle_panel", explode)  # a key's handler, outside every guard
    app = make_app(emulator, SharedClock(emulator_clock))
    with pytest.raises(RuntimeError, match="panel key exploded"):
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await ready(pilot)
            await submit(pilot, "first question")
            await until(pilot, lambda: answers(screen) and answers(screen)[0].text.strip())
            await submit(pilot, "second question")  # waits behind the answer being written
            conv_id = screen.conv_id
            await pilot.press("ctrl+b")
            await pilot.pause()

    assert app.return_code == 1 and isinstance(app.crashed, RuntimeError)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out  # Textual's Rich traceback is not printed
    assert exit_status(app, None) == 1
    line = capsys.readouterr().err
    assert line.strip().splitlines() == [
        f"gemtui: crashed: panel key exploded near {SECRET[:4]}…{SECRET[-4:]} (details in {paths.log_file()})"
    ]
    text = logfile.read_text()
    assert "Traceback (most recent call last)" in text and "explode" in text and SECRET not in text

    # the answer being written is kept as cut with why; the prompt behind it still waits for next time
    stored = SessionStore().messages(conv_id)
    assert [m.role for m in stored] == ["user", "model"]
    assert stored[1].status == "partial" and stored[1].text and "crashed" in stored[1].error
    queue = RequestQueue()
    states = {i.prompt: i.state for i in queue.items(("queued", "sending", "failed", "cancelled", "done"))}
    assert states == {"first question": "failed", "second question": "queued"}
    assert queue.items(("queued",))[0].message_id is None  # stored afresh when it is sent


async def test_a_failing_slash_command_is_one_line_and_the_app_goes_on(emulator, emulator_clock, monkeypatch, logfile):
    """A command's own bug (or a library's surprise inside it) must not end a conversation: one masked
    line where commands answer, the traceback in the log, and the next message still goes."""

    async def explode(_ctx, _arg):
        raise RuntimeError(f"help exploded near {SECRET}")

    exploding = [replace(c, handler=explode) if c.name == "help" else c for c in slash.REGISTRY]
    monkeypatch.setattr(slash, "REGISTRY", slash.SlashRegistry(exploding))
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "/help")
        shown = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: any(n.startswith("/help failed: help exploded") for n in shown()))
        assert not any(SECRET in n for n in shown())
        await submit(pilot, "still here?")
        await until(pilot, lambda: answers(screen) and answers(screen)[0].text.strip(), timeout=20)
    assert app.crashed is None
    text = logfile.read_text()
    assert "Traceback (most recent call last)" in text and "/help failed" in text and SECRET not in text


async def test_a_crash_in_a_worker_is_reported_as_itself(emulator, emulator_clock, monkeypatch, logfile, capsys):
    def broken(self):
        raise ValueError("gauges broke")

    monkeypatch.setattr(ChatScreen, "update_title", broken)  # called by the start worker
    app = make_app(emulator, SharedClock(emulator_clock))
    with pytest.raises(Exception):  # noqa: B017  (Textual wraps it in WorkerFailed)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.crashed is not None)
    assert isinstance(app.crashed, ValueError)
    assert exit_status(app, None) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("gemtui: crashed: gauges broke")
    assert "update_title" in logfile.read_text()


async def test_a_clean_exit_keeps_the_apps_status(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+q")
    assert app.crashed is None and exit_status(app, app.return_code) == 0


async def test_quitting_mid_stream_prints_nothing_and_keeps_the_answer_as_cut(caplog, capfd):
    """`--demo`'s own emulator is stopped with the app while it still streams the answer."""
    import logging

    from gemtui.commands._runtime import Opened
    from gemtui.config import Config
    from gemtui.emulator import Emulator
    from gemtui.tui.app import GemtuiApp
    from tests.tui_helpers import make_runtime

    emulator = Emulator(keys={"demo-key": "demo"}, ttft_s=0.01, tokens_per_s=20)  # a minute of answer
    emulator.start()
    runtime = make_runtime(emulator, None)
    app = GemtuiApp(lambda: Opened(runtime, emulator), config=Config({}), clock_tick_s=0.2)
    with caplog.at_level(logging.INFO):
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await ready(pilot)
            await submit(pilot, "tell me everything")
            await until(pilot, lambda: answers(screen) and answers(screen)[0].text.strip())
            conv_id = screen.conv_id
            await pilot.press("ctrl+q")
            await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0 and app.crashed is None
    assert emulator._thread is None  # stopped with the app
    complaints = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert complaints == [], [r.getMessage() for r in complaints]
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    answer = SessionStore().messages(conv_id)[-1]
    assert answer.role == "model" and answer.status == "partial" and "quit" in answer.error
    assert [i.state for i in RequestQueue().items(("failed", "queued", "sending", "done"))] == ["failed"]


async def test_quitting_while_the_start_still_resumes_is_a_clean_exit(emulator, emulator_clock, monkeypatch):
    """Ctrl+Q at once with --resume: the quit took the widgets away while the start still filled them, and
    the start ended in 'crashed: No nodes match #status' with status 1. The race is forced here: the quit
    and the widget's removal happen right after the resume."""
    from gemtui.tui.slash import conversation as conversation_slash

    first = make_app(emulator, SharedClock(emulator_clock))
    async with first.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "keep me")
        await until(pilot, lambda: answers(screen) and answers(screen)[0].text.strip())
        conv = screen.conv_id
    resume = conversation_slash.resume

    async def resume_then_quit(ctx, arg):
        await resume(ctx, arg)
        ctx.app.exit()
        await ctx.query_one("#status").remove()  # what the app's teardown does to the screen's widgets

    monkeypatch.setattr(conversation_slash, "resume", resume_then_quit)
    app = make_app(emulator, SharedClock(emulator_clock), resume=str(conv))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.return_code is not None or app.crashed is not None)
        await pilot.pause(0.2)
    assert app.crashed is None and exit_status(app, app.return_code) == 0
