"""Every profile's models in the app: `/model` and the palette list them as `NAME:model` without a route chain
naming them; choosing one sends through that profile's wire; a profile that cannot be used says so in one
line and the app goes on."""

from __future__ import annotations

import pytest

from tests.tui_helpers import SharedClock, answers, labels, make_runtime, ready, submit, until

pytestmark = pytest.mark.asyncio


HOSTILE_MODEL = "x[/]y[b \x1b[31m"


def app_with_profiles(emulator, emulator_clock):
    from gemtui.auth import add_profile
    from gemtui.auth.profiles import Profile, write_profile
    from gemtui.commands._runtime import Opened
    from gemtui.config import load_config
    from gemtui.runtime_links import chain_links
    from gemtui.tui.app import GemtuiApp

    add_profile("ds", "key-c", endpoint=emulator.openai_base_url, api="openai", model="deepseek-chat", activate=False)
    write_profile(Profile("nokey", api="openai", model="ghost-model"))  # in the config, no key in the keyring
    write_profile(Profile("odd", api="openai", model=HOSTILE_MODEL))  # a config's text: never markup
    config = load_config()
    runtime = make_runtime(emulator, SharedClock(emulator_clock), config, links=chain_links(config, "demo"))
    return GemtuiApp(lambda: Opened(runtime), config=config, clock_tick_s=0.2)


async def choose_in_palette(pilot, words: str) -> None:
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    await pilot.press(*[("space" if c == " " else c) for c in words])
    palette = pilot.app.screen
    await until(pilot, lambda: palette.query_one("CommandList").option_count > 0)
    await pilot.pause(0.3)  # the list settles as the providers answer
    await pilot.press("down", "enter")
    await until(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette))


async def test_other_profiles_models_are_offered_and_answer(emulator, emulator_clock, secret_service):
    from gemtui.tui.screens.model_picker import ModelPicker

    app = app_with_profiles(emulator, emulator_clock)
    async with app.run_test(size=(140, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/model")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker))
        options = app.screen.query_one("OptionList")
        listed = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert "ds:deepseek-chat" in listed and "nokey:ghost-model" in listed, listed
        assert f"odd:{HOSTILE_MODEL}" in listed
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)

        await choose_in_palette(pilot, "model odd")  # shown as typed; choosing it crashes nothing
        assert chat.preference == f"odd:{HOSTILE_MODEL}"
        await choose_in_palette(pilot, "model deepseek")
        assert chat.preference == "ds:deepseek-chat"
        await submit(pilot, "hello through a profile no chain names [[tokens=20]]")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        assert any("deepseek-chat" in lbl for lbl in labels(chat)), labels(chat)
        assert emulator.openai_counters()["served"] == 1

        await choose_in_palette(pilot, "model ghost")
        assert chat.preference == "nokey:ghost-model"
        await submit(pilot, "and through one without a key")
        await until(
            pilot,
            lambda: not chat.chat_task.busy and len(answers(chat)) + len(chat.conversation.query(".marker")) >= 2,
            timeout=20,
        )
        shown = " ".join(str(w.render()) for w in chat.conversation.query(".status, .marker"))
        assert "profile 'nokey' cannot be used" in shown, shown
        assert emulator.openai_counters()["served"] == 1  # nothing went out for it


async def test_a_gemini_profile_offers_its_fallback_chain(isolated_dirs):
    from gemtui.auth.profiles import Profile, write_profile
    from gemtui.config import load_config
    from gemtui.quota.limits import FALLBACK_ORDER
    from gemtui.runtime_links import profile_models

    write_profile(Profile("work"))
    write_profile(Profile("ds", api="openai", model="deepseek-chat"))
    write_profile(Profile("bare", api="openai"))  # no default model: nothing to offer by name
    assert profile_models(load_config(), "demo") == [
        "ds:deepseek-chat",
        *(f"work:{model}" for model in FALLBACK_ORDER),
    ]
    assert not any(m.startswith("work:") for m in profile_models(load_config(), "work"))


async def test_another_gemini_profiles_models_have_the_published_limits_of_its_tier(isolated_dirs, emulator):
    from gemtui.auth.profiles import Profile, write_profile
    from gemtui.config import load_config
    from gemtui.quota.limits import FLASH, PRO, LimitTable
    from gemtui.runtime_links import profile_limits

    write_profile(Profile("paid", tier="tier1"))
    config = load_config()
    runtime = make_runtime(emulator, None, config, profile_limits=profile_limits(config, "demo"))
    table = runtime.engine.table
    assert table.limits(f"paid:{PRO}", "free").as_dict() == LimitTable().limits(PRO, "tier1").as_dict()
    assert table.limits(f"paid:{FLASH}", "free").rpm == LimitTable().limits(FLASH, "tier1").rpm
    assert table.limits(PRO, "free").rpm == LimitTable().limits(PRO, "free").rpm  # its own are untouched
    gauges = runtime.engine.gauges(runtime.project, [f"paid:{PRO}"])[f"paid:{PRO}"]
    assert gauges["rpm"].limit == LimitTable().limits(PRO, "tier1").rpm  # not "unknown — learning"


async def test_quota_screen_lists_a_route_whose_links_are_no_widget_ids(emulator, emulator_clock, secret_service):
    """`profile:model` links and a config's model ids hold characters a widget id cannot: /quota opened on
    such a chain (the demo's has `deepseek:deepseek-chat`) lists every model as text instead of crashing."""
    from gemtui.config import update_config
    from gemtui.tui.screens.quota import QuotaScreen

    route = ["pro", "ds:deepseek-chat", HOSTILE_MODEL, "9-lives.v2"]
    update_config(lambda data: data.setdefault("routing", {}).update(route=route))
    app = app_with_profiles(emulator, emulator_clock)
    async with app.run_test(size=(140, 60)) as pilot:
        chat = await ready(pilot)
        await pilot.press("ctrl+u")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.2)
        shown = " ".join(str(w.content) for w in app.screen.query("Static.hint"))
        for link in ("ds:deepseek-chat", HOSTILE_MODEL, "9-lives.v2"):
            assert link in shown, shown
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
