"""The context budget in the chat app, over real HTTP to the emulator: the marker, /pin, /context, /compact.

A small `[context] max_input_tokens` in the test's own config file forces trimming after a few turns.
"""

from __future__ import annotations

import pytest

from gemtui import paths
from gemtui.chat.sessions import SessionStore
from gemtui.config import load_config
from gemtui.quota.limits import PRO
from tests.tui_helpers import SharedClock, make_app, ready, shown_labels, submit, until

pytestmark = pytest.mark.asyncio

PROMPTS = (
    "Explain what RPM means for the free tier",
    "And TPM, how is it counted",
    "What about RPD and the Pacific midnight",
    "Summarise all three in a table",
)


def small_budget(tokens: int = 500):
    paths.config_file().write_text(f"[context]\nmax_input_tokens = {tokens}\n", encoding="utf-8")
    return load_config()


async def converse(pilot, screen, prompts) -> None:
    for prompt in prompts:
        done = sum(1 for m in screen.conversation.messages() if m.role == "model")
        await submit(pilot, prompt)
        await until(
            pilot,
            lambda d=done: (
                not screen.chat_task.busy
                and sum(
                    " out" in getattr(m, "gemtui_base_label", "")
                    for m in screen.conversation.messages()
                    if m.role == "model"
                )
                == d + 1
            ),
            timeout=20,
        )


def marker(screen) -> str | None:
    found = screen.conversation.query("#context-marker")
    return str(found.first().content) if found else None


async def test_marker_sits_above_the_first_sent_message_and_pin_keeps_a_message(emulator, emulator_clock):
    from gemtui.tui.screens.context import ContextScreen

    app = make_app(emulator, SharedClock(emulator_clock), config=small_budget(), model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await converse(pilot, screen, PROMPTS[:3])
        used = screen.last_plan
        assert used is not None and used.model == PRO and used.total_tokens <= 500
        await until(pilot, lambda: marker(screen) is not None)
        plan, _ = screen.session().next_plan(screen.preference)
        assert plan.left_out >= 2 and marker(screen) == plan.marker
        assert marker(screen).endswith("earlier messages not sent — /context")
        # the marker is right above the first message the plan sends
        children = list(screen.conversation.children)
        at = next(i for i, w in enumerate(children) if w.id == "context-marker")
        assert children[at + 1].msg_id == plan.first_sent_id
        # every message is numbered; /pin 1 keeps the first prompt in every request
        assert shown_labels(screen)[0] == "#1 you"
        first_id = next(i for i, n in screen._numbers.items() if n == 1)
        assert first_id in plan.left_out_ids
        await submit(pilot, "/pin 1")
        assert shown_labels(screen)[0] == "#1 pinned · you"
        assert SessionStore().get_message(first_id).pinned
        await converse(pilot, screen, PROMPTS[3:])
        sent_ids = [m.id for m in screen.last_plan.sent]
        assert first_id in sent_ids and screen.last_plan.pinned_count == 1  # the request really carried it
        # /context shows the plan the send path makes
        await submit(pilot, "/context")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen))
        report = str(app.screen.query_one("#context-report").content)
        plan, _ = screen.session().next_plan(screen.preference)
        assert "\n".join(plan.report()) in report and plan.marker in report
        await pilot.press("escape")
        await submit(pilot, "/unpin 1")
        assert shown_labels(screen)[0] == "#1 you" and not SessionStore().get_message(first_id).pinned
        # another model, another budget: the marker follows /model
        await submit(pilot, "/model flash")
        await pilot.pause(0.1)
        plan, _ = screen.session().next_plan(screen.preference)
        assert plan.model.endswith("flash") and marker(screen) == plan.marker


async def test_compact_shows_its_cost_then_replaces_the_left_out_part(emulator, emulator_clock):
    from gemtui.tui.screens.confirm import ConfirmDialog

    # the summariser works under the same cap, so it needs room for the left-out turn
    app = make_app(emulator, SharedClock(emulator_clock), config=small_budget(700), model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await converse(pilot, screen, PROMPTS)
        before, _ = screen.session().next_plan(screen.preference)
        left_out = [i for i in before.left_out_ids if i is not None]
        assert left_out
        requests_before = emulator.counters()
        await submit(pilot, "/compact")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        cost = str(app.screen.query_one("#confirm-body").content)
        assert cost.startswith("/compact: 1 request of ~") and "gemini-2.5-flash-lite" in cost
        assert "requests left this minute" in cost and "requests left today" in cost
        assert emulator.counters() == requests_before  # nothing is sent before the user agrees
        await pilot.press("y")
        # done when the chat task is free: the summary's label shows before the session is reloaded
        await until(
            pilot,
            lambda: not screen.chat_task.busy and any("summary (/compact)" in lbl for lbl in shown_labels(screen)),
            timeout=20,
        )
        stored = SessionStore().messages(screen.conv_id)
        summary = next(m for m in stored if m.kind == "summary")
        assert summary.pinned and summary.model == "gemini-2.5-flash-lite"
        compacted = {m.id for m in stored if m.status == "compacted"}
        assert compacted and compacted <= set(left_out)
        after, _ = screen.session().next_plan(screen.preference)
        assert summary.id in [m.id for m in after.sent]
        assert not compacted & {m.id for m in after.sent}
        assert "gemini-2.5-flash-lite" in emulator.counters()["demo"]


async def test_a_prompt_over_the_budget_is_shown_not_sent(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock), config=small_budget(200), model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "tell me everything " * 80)
        await until(pilot, lambda: not screen.chat_task.busy and screen.conversation.messages())
        view = screen.conversation.messages()[0]
        status = str(view.query_one(".status").content)
        assert status.startswith("✗ not sent: this message is ~") and "budget" in status
        assert emulator.counters() == {}
        stored = SessionStore().messages(screen.conv_id)
        assert [(m.role, m.status) for m in stored] == [("user", "error")]
