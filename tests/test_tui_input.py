"""Keys and small dialogs: where focus goes, what Enter and Ctrl+U do from the composer, edited queue
rows, the edit dialog on 80 × 24, and commands that refuse what they cannot use."""

from __future__ import annotations

import pytest

from gemtui.quota.limits import FLASH, PRO
from tests.tui_helpers import GatedClock, SharedClock, fill, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def waiting_queue(pilot, app, clock, prompts: list[str]):
    """Pro full, `prompts` typed: the first waits in the sender, the rest in the queue panel."""
    screen = await ready(pilot)
    fill(app.runtime, PRO, 5)
    for prompt in prompts:
        await submit(pilot, prompt)
        if prompt == prompts[0]:
            await until(pilot, lambda: clock.sleepers == 1)
    panel = screen.query_one("#queue")
    await until(pilot, lambda: panel.display and len(panel.list_view.children) == len(prompts))
    return screen, panel


async def test_typing_after_tab_left_the_composer_still_writes_the_message(emulator, emulator_clock):
    """Tab moves the focus on (to the conversation); the characters typed next and Enter must not vanish."""
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await pilot.press("a", "b", "tab")
        await pilot.pause()
        assert app.focused is not screen.composer.area  # Tab did move the focus
        await pilot.press("c", "[", "/", "]")
        assert app.focused is screen.composer.area
        assert screen.composer.text == "abc[/]"
        await pilot.press("enter")
        await until(pilot, lambda: screen.composer.text == "")
        await until(pilot, lambda: any(m.role == "user" and m.text == "abc[/]" for m in screen.conversation.messages()))


async def test_focus_returns_to_the_composer_when_the_queue_panel_empties(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, panel = await waiting_queue(pilot, app, clock, ["only one"])
        panel.list_view.focus()
        await pilot.pause()
        await pilot.press("x")  # cancels the last queued message: the panel hides
        await until(pilot, lambda: not panel.display)
        await pilot.pause()
        assert app.focused is screen.composer.area
        await pilot.press("h", "i")
        assert screen.composer.text == "hi"


async def test_focus_returns_to_the_composer_after_m_merges(emulator, emulator_clock):
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, panel = await waiting_queue(pilot, app, clock, ["one", "two", "three"])
        panel.list_view.focus()
        await pilot.pause()
        await pilot.press("m")
        await until(pilot, lambda: len(screen.waiting_here()) == 1)
        await pilot.pause()
        assert app.focused is screen.composer.area
        await pilot.press("o", "k")
        assert screen.composer.text == "ok"


async def test_an_edited_queued_message_shows_its_new_text(emulator, emulator_clock):
    from gemtui.tui.screens.edit import EditDialog

    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, panel = await waiting_queue(pilot, app, clock, ["first", "the old text"])
        panel.list_view.focus()
        panel.list_view.index = 1
        await pilot.pause()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditDialog))
        app.screen.query_one("#edit-text").load_text("the new text")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: [i.prompt for i in screen.waiting_here()][-1] == "the new text")
        await pilot.pause(0.3)
        shown = [str(label.content) for label in panel.list_view.query(".prompt")]
        assert shown[-1] == "the new text"


async def test_the_edit_dialog_fits_an_80_by_24_terminal(emulator, emulator_clock):
    from gemtui.tui.screens.edit import EditDialog

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.push_screen(EditDialog("a queued message " * 20))
        await until(pilot, lambda: isinstance(app.screen, EditDialog))
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        screen_region = app.screen.region
        assert screen_region.contains_region(dialog.region), (dialog.region, screen_region)
        for button in app.screen.query("Button"):
            assert dialog.region.contains_region(button.region), button.region
            assert button.region.height >= 1


async def test_enter_runs_a_command_with_its_argument_before_the_dropdown_caught_up(emulator, emulator_clock):
    """`/model flash⏎` typed fast: Enter reached the composer while the dropdown still showed the
    matches of `/mo`, completed `/model ` over the argument, and the next message became a model id."""
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        composer = chat.composer
        composer.area.focus()
        await pilot.press("/", "m", "o")
        assert composer.dropdown_open
        composer.area.insert("del flash")  # its Changed message is not handled yet when Enter comes
        assert composer.intercept_key("enter")
        await until(pilot, lambda: chat.preference == FLASH)
        assert composer.text == ""
        await pilot.press("/", "p", "o", "l", "i", "c", "y", "space", "w", "a", "i", "t", "enter")
        await until(pilot, lambda: chat.policy == "wait")
        assert composer.text == ""


async def test_ctrl_u_opens_quota_from_the_composer(emulator, emulator_clock):
    from gemtui.tui.screens.quota import QuotaScreen

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        chat.composer.area.focus()
        await pilot.press("a", "b")
        await pilot.press("ctrl+u")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
        assert chat.composer.text == "ab"  # the draft is left alone


async def test_policy_refuses_an_unknown_value(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        before = chat.policy
        await submit(pilot, "/policy bogus")
        assert chat.policy == before
        refusal = [n for n in app._notifications if "bogus" in str(n.message)]
        assert refusal and refusal[0].severity == "warning"
        assert all(word in str(refusal[0].message) for word in ("switch", "wait", "ask"))
        await submit(pilot, "/policy Ask")
        assert chat.policy == "ask"


async def test_model_refuses_an_unknown_word_and_accepts_what_the_server_lists(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/model bogus")
        await until(pilot, lambda: any("bogus" in n for n in notes(app)))
        assert chat.preference == "auto"
        refusal = next(n for n in notes(app) if "bogus" in n)
        assert "\n" not in refusal
        for accepted in ("auto", "pro", "flash", "lite", PRO, "gemini-2.0-flash"):
            assert accepted in refusal, accepted
        before = emulator.counters()
        await submit(pilot, "/model gemini-2.0-flash")  # not in the limits table; the server lists it
        await until(pilot, lambda: chat.preference == "gemini-2.0-flash")
        await submit(pilot, "/model lite")
        assert chat.preference == "gemini-2.5-flash-lite"
        await submit(pilot, "/model models/gemini-2.5-pro")
        assert chat.preference == PRO
        assert emulator.counters() == before  # choosing (and asking the model list) spends no quota
