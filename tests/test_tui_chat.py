"""The chat app driven by Textual's Pilot against the emulator over real HTTP."""

from __future__ import annotations

import pytest

from gemtui.chat.sessions import SessionStore
from gemtui.config import Config
from gemtui.quota.limits import FLASH, PRO
from tests.tui_helpers import (
    GatedClock,
    SharedClock,
    answers,
    fill,
    labels,
    make_app,
    ready,
    submit,
    until,
)

pytestmark = pytest.mark.asyncio


async def test_send_streams_and_labels_the_answer(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "hello there")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)))
        label = labels(screen)[0]
        assert label.startswith(PRO) and " in / " in label and label.endswith(" s")
        assert answers(screen)[0].text.strip()
        stored = SessionStore().messages(screen.conv_id)
        assert [m.role for m in stored] == ["user", "model"]
        assert stored[1].status == "complete" and stored[1].model == PRO
        gauge = str(screen.query_one("#gauge-rpm").content)
        assert "1/5" in gauge


async def test_typed_while_streaming_joins_the_queue_and_sends_itself(emulator, emulator_clock):
    emulator.set_pacing(ttft_s=2.0, tokens_per_s=2000)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "first question")
        await until(pilot, lambda: screen.chat_task.busy)
        await submit(pilot, "second question")
        panel = screen.query_one("#queue")
        await until(pilot, lambda: panel.display and len(panel.list_view.children) == 1)
        await until(pilot, lambda: sum(" out" in lbl for lbl in labels(screen)) == 2, timeout=20)
        assert not panel.display
        users = [m.text for m in screen.conversation.messages() if m.role == "user"]
        assert users == ["first question", "second question"]


async def test_merge_folds_queued_items_into_one_request(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "one")
        await until(pilot, lambda: clock.sleepers == 1)
        await submit(pilot, "two")
        await submit(pilot, "three")
        assert len(screen.waiting_here()) == 3
        await submit(pilot, "/merge")
        waiting = screen.waiting_here()
        assert len(waiting) == 1 and waiting[0].prompt == "one\n\ntwo\n\nthree"
        clock.gate.set()
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)), timeout=20)
        assert len(answers(screen)) == 1
        assert emulator.counters()  # the emulator saw real requests


async def test_queue_item_waits_with_reason_and_countdown_then_sends(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "wait for pro please")
        panel = screen.query_one("#queue")
        await until(pilot, lambda: clock.sleepers == 1 and panel.display)
        await pilot.pause(0.3)
        why = str(panel.list_view.query(".why").first().content)
        assert PRO in why and "RPM" in why and ":" in why.split("·")[-1]
        clock.gate.set()
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)), timeout=20)
        assert labels(screen)[0].startswith(PRO)


async def test_auto_switches_to_flash_and_returns_to_pro(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "busy pro")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)))
        assert labels(screen)[0].startswith(f"{FLASH} (for {PRO})")
        routing = str(screen.query_one("#routing").content)
        assert "answered by gemini-2.5-flash" in routing and "free in" in routing
        emulator_clock.advance(61)
        await submit(pilot, "pro again")
        await until(pilot, lambda: sum(" out" in lbl for lbl in labels(screen)) == 2)
        assert labels(screen)[1].startswith(PRO)
        notices = [str(n.content) for n in screen.conversation.query(".notice")]
        assert f"back on {PRO}" in notices


async def test_auto_answers_from_flash_after_a_503_on_pro_and_says_why(emulator, emulator_clock):
    emulator.set_fault("overloaded", count=1, model=PRO)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "pro is overloaded")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)))
        assert labels(screen)[0].startswith(f"{FLASH} (for {PRO})")
        assert len(answers(screen)) == 1, "one answer, not an empty one left by the failed attempt"
        routing = str(screen.query_one("#routing").content)
        assert "503" in routing and "answered by gemini-2.5-flash" in routing
        stored = SessionStore().messages(screen.conv_id)
        assert [m.role for m in stored] == ["user", "model"] and stored[1].model == FLASH


async def test_escape_cancels_and_keeps_the_partial_answer(emulator, emulator_clock):
    emulator.set_pacing(ttft_s=0.05, tokens_per_s=60)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "a long answer please")
        await until(pilot, lambda: answers(screen) and len(answers(screen)[0].text) > 5)
        await pilot.press("escape")
        await until(pilot, lambda: not screen.chat_task.busy)
        assert labels(screen)[0].endswith("cancelled")
        stored = SessionStore().messages(screen.conv_id)[-1]
        assert stored.status == "partial" and stored.text


async def test_cut_stream_stays_marked_and_retry_answers(emulator, emulator_clock):
    emulator.set_fault("cut_stream", after_chunks=2)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "cut me")
        await until(pilot, lambda: answers(screen) and "cut" in answers(screen)[0]._label, timeout=20)
        status = str(answers(screen)[0].query_one(".status").content)
        assert "answer cut" in status and "/retry" in status
        await submit(pilot, "/retry")
        await until(pilot, lambda: len(answers(screen)) == 2 and " out" in labels(screen)[1], timeout=20)
        users = [m for m in SessionStore().messages(screen.conv_id) if m.role == "user"]
        assert len(users) == 1  # the retry re-sends the stored prompt, it does not duplicate it


async def test_network_error_shows_inline_and_app_survives(emulator, emulator_clock):
    emulator.set_fault("internal", count=10)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "will fail")

        def shown() -> bool:
            return not screen.chat_task.busy and bool(answers(screen) or screen.conversation.query(".marker"))

        await until(pilot, shown, timeout=30)
        emulator.clear_faults()
        await submit(pilot, "works now")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)), timeout=20)


async def test_ask_policy_offers_switch_now(emulator, emulator_clock):
    config = Config({"general": {"on_limit": "ask"}})
    app = make_app(emulator, SharedClock(emulator_clock), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 5)
        await submit(pilot, "ask me")
        from gemtui.tui.screens.ask import AskDialog

        await until(pilot, lambda: isinstance(app.screen, AskDialog))
        await pilot.press("s")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(screen)))
        assert labels(screen)[0].startswith(FLASH)


async def test_resume_reopens_the_last_session(emulator, emulator_clock):
    store = SessionStore()
    conv = store.create(title="earlier chat")
    store.append(conv.id, "user", "what is RPM?")
    store.append(conv.id, "model", "Requests per minute.", model=FLASH, input_tokens=5, output_tokens=4, latency_s=0.5)
    store.close()
    app = make_app(emulator, SharedClock(emulator_clock), resume="")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(screen.conversation.messages()) == 2)
        assert screen.conv_id == conv.id
        assert labels(screen)[0] == f"{FLASH} · 5 in / 4 out · 0.5 s"
        await submit(pilot, "and TPM?")
        await until(pilot, lambda: len(answers(screen)) == 2 and " out" in labels(screen)[1])


async def test_a_prompt_stored_before_gemtui_was_killed_is_sent_once_after_restart(emulator, emulator_clock):
    """The previous process stored the prompt, was killed while it waited; the queue recovers the item and
    the restarted app re-sends that stored message instead of storing the prompt a second time."""
    from gemtui.chat.queue import RequestQueue

    store = SessionStore()
    conv = store.create(title="interrupted")
    stored = store.append(conv.id, "user", "sent once, please")
    store.close()
    queue = RequestQueue()
    item = queue.add(conv.id, "sent once, please")
    queue.set_message(item.id, stored.id)
    queue.mark(item.id, "sending")
    queue._db.execute("UPDATE queue SET owner_pid=999999 WHERE id=?", (item.id,))  # a process long gone
    queue.close()

    app = make_app(emulator, SharedClock(emulator_clock), resume="")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(answers(screen)) == 1 and " out" in labels(screen)[0], timeout=20)
        users = [m for m in SessionStore().messages(conv.id) if m.role == "user"]
        assert [m.text for m in users] == ["sent once, please"] and users[0].id == stored.id
        shown = [m.text for m in screen.conversation.messages() if m.role == "user"]
        assert shown == ["sent once, please"], "shown once too"
        assert RequestQueue().items() == []


async def test_a_narrow_terminal_trades_the_side_panel_for_a_quota_line(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        side, line = screen.query_one("#side"), screen.query_one("#quota-line")
        assert not side.display and line.display  # 80 columns: the panel would leave 30 for the chat
        fill(app.runtime, PRO, 5)
        await submit(pilot, "wait for pro please")
        await until(pilot, lambda: clock.sleepers == 1)
        await until(pilot, lambda: "1 queued, next in" in str(line.content))
        text = str(line.content)
        assert text.startswith(PRO) and "RPM 5/5" in text and line.level == "critical"
        await pilot.press("ctrl+b")
        assert side.display and not line.display
        clock.gate.set()
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not side.display and line.display  # toggled: on a wide terminal it hides the panel
        await pilot.press("ctrl+b")
        assert side.display and not line.display
