"""Every slash command end to end, the palette provider, themes, and the start-up message when no key exists."""

from __future__ import annotations

import argparse

from gemtui import exitcodes
from gemtui.chat.sessions import SessionStore
from gemtui.config import load_config
from gemtui.quota.limits import FLASH
from gemtui.tui import slash
from gemtui.tui.themes import load_themes, parse_theme
from tests.tui_helpers import SharedClock, labels, make_app, ready, submit, until


async def test_every_screen_command_opens_and_closes(emulator, emulator_clock):
    from gemtui.tui.screens.auth import AuthScreen
    from gemtui.tui.screens.context import ContextScreen
    from gemtui.tui.screens.help import HelpScreen
    from gemtui.tui.screens.model_picker import ModelPicker
    from gemtui.tui.screens.quota import QuotaScreen
    from gemtui.tui.screens.sessions import SessionsScreen
    from gemtui.tui.screens.theme_picker import ThemePicker

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        for command, screen_type in (
            ("/help", HelpScreen),
            ("/quota", QuotaScreen),
            ("/sessions", SessionsScreen),
            ("/auth", AuthScreen),
            ("/context", ContextScreen),
            ("/model", ModelPicker),
            ("/theme", ThemePicker),
        ):
            await submit(pilot, command)
            await until(pilot, lambda t=screen_type: isinstance(app.screen, t))
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is chat)
        text = str(chat.query_one("#runtime-error").content)
        assert text == ""


async def test_model_policy_new_clear_export_and_unknown(emulator, emulator_clock, tmp_path):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/model flash")
        assert chat.preference == FLASH
        assert "flash" in str(chat.query_one("#quota-title").content)
        await submit(pilot, "hi")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)))
        assert labels(chat)[0].startswith(FLASH)
        await submit(pilot, "/policy wait")
        assert chat.policy == "wait"
        target = tmp_path / "out.md"
        await submit(pilot, f"/export {target}")
        assert "hi" in target.read_text()
        before = emulator.counters()
        await submit(pilot, "/frobnicate")
        await submit(pilot, "/modle")
        assert emulator.counters() == before  # unknown commands never reach the model
        notes = [str(n.message) for n in app._notifications]
        assert any("unknown command /modle — did you mean /model?" in n for n in notes)
        await submit(pilot, "/clear")
        assert not chat.conversation.messages()
        conv = chat.conv_id
        await submit(pilot, "/new")
        assert chat.conv_id is None
        await submit(pilot, "/sessions")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: chat.conv_id == conv and len(chat.conversation.messages()) == 2)
        await submit(pilot, "/auth")
        await pilot.press("escape")


async def test_sessions_delete_needs_two_presses(emulator, emulator_clock):
    store = SessionStore()
    keep = store.create(title="keep me")
    drop = store.create(title="drop me")
    store.close()
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await submit(pilot, "/sessions")
        await pilot.pause()
        await pilot.press("d")
        assert {s.id for s in SessionStore().list()} == {keep.id, drop.id}
        await pilot.press("d")
        assert {s.id for s in SessionStore().list()} == {keep.id}


async def test_theme_switch_is_remembered(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert app.theme == "gemtui-dark"
        await submit(pilot, "/theme gemtui-light")
        assert app.theme == "gemtui-light"
    assert load_config().section("tui")["theme"] == "gemtui-light"


async def test_palette_lists_slash_commands(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        provider = slash.slash_provider()(chat, None)
        hits = [hit async for hit in provider.search("quota")]
        assert hits and "/quota" in str(hits[0].match_display)
        await hits[0].command()
        from gemtui.tui.screens.quota import QuotaScreen

        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.2)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)


async def test_composer_completion_history_and_newline(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        composer = chat.composer
        composer.area.focus()
        await pilot.press("/", "q", "u")
        assert composer.dropdown_open
        await pilot.press("tab")
        assert composer.text == "/quota "
        composer.set_text("")
        await pilot.press("a", "ctrl+j", "b")
        assert composer.text == "a\nb"
        composer.set_text("")
        composer.history[:] = ["earlier prompt"]
        await pilot.press("up")
        assert composer.text == "earlier prompt"


def test_bundled_and_user_themes_load(isolated_dirs):
    themes, problems = load_themes()
    assert {"gemtui-dark", "gemtui-light"} <= set(themes) and not problems
    assert themes["gemtui-dark"].dark and not themes["gemtui-light"].dark
    from gemtui import paths

    user = paths.config_dir() / "themes"
    user.mkdir(parents=True)
    (user / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#ff0000"\n')
    (user / "broken.toml").write_text("not = [toml")
    themes, problems = load_themes()
    assert parse_theme(user / "mine.toml").primary == "#ff0000" and "mine" in themes
    assert [p.path.name for p in problems] == ["broken.toml"]


def test_no_key_prints_one_line_suggesting_demo(capsys):
    from gemtui.commands import tui

    args = argparse.Namespace(demo=False, resume=None, profile=None, model=None)
    assert tui.run(args) == exitcodes.EXIT_AUTH
    err = capsys.readouterr().err
    assert "--demo" in err and "gemtui auth add" in err and "GEMINI_API_KEY" in err


def test_unknown_command_suggestion():
    assert slash.REGISTRY.suggest("modle") == "model"
    assert slash.parse("/model  flash ") == ("model", "flash")


def test_help_table_keeps_usages_with_pipes_in_one_cell():
    from gemtui.tui.screens.help import help_markdown

    rows = [line for line in help_markdown().splitlines() if line.startswith("| `/")]
    assert rows and all(line.replace("\\|", "").count("|") == 3 for line in rows), rows
    assert any("/model [pro\\|flash" in line for line in rows)


async def test_remembered_theme_is_the_one_drawn_from_the_first_frame(emulator, emulator_clock):
    """The start-up theme skips Textual's theme watcher (a wasted re-parse) when it can: the app must
    still carry the theme's classes and draw with its colours, dark or light."""
    from textual.color import Color

    from gemtui.config import Config

    for name in ("gemtui-light", "gemtui-dark"):
        app = make_app(emulator, SharedClock(emulator_clock), config=Config({"tui": {"theme": name}}))
        async with app.run_test(size=(120, 40)) as pilot:
            chat = await ready(pilot)
            assert app.theme == name
            theme_classes = {c for c in app.classes if c.startswith("-theme-")}
            assert theme_classes == {f"-theme-{name}"}
            dark = app.get_theme(name).dark
            assert app.has_class("-dark-mode") == dark and app.has_class("-light-mode") == (not dark)
            theme = app.get_theme(name)
            assert chat.styles.background == Color.parse(theme.background)
            accent = chat.query_one("#routing").styles.color.rgb  # $accent (blended: off by one at most)
            assert all(abs(a - b) <= 1 for a, b in zip(accent, Color.parse(theme.accent).rgb, strict=True))


async def test_enter_runs_a_command_typed_in_full_before_the_dropdown_caught_up(emulator, emulator_clock):
    """Typed fast (or pasted), `/quota` then Enter reached the composer while the dropdown still
    showed the matches of `/q`: Enter completed instead of running, and a second Enter was needed."""
    from gemtui.tui.screens.quota import QuotaScreen

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        composer = chat.composer
        composer.area.focus()
        await pilot.press("/", "q")
        assert composer.dropdown_open
        composer.area.insert("uota")  # its Changed message is not handled yet when Enter comes
        assert composer.intercept_key("enter")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
        await pilot.press("/", "q", "enter")  # a prefix still completes
        assert composer.text == "/quit " or composer.text == "/quota "
