"""`@path` in the composer and images out in the app, through Textual's test driver against the emulator:
completion offers files as text, the file reaches the wire, a saved image is shown and opened."""

from __future__ import annotations

import hashlib
import os
import stat

from gemtui.commands._runtime import Opened
from gemtui.config import Config
from gemtui.runtime import build_runtime
from tests.tui_helpers import SharedClock, answers, make_app, ready, until

HOSTILE = "notes [bold]x[red] \x1b[31m.md"  # a name cannot hold a slash; its contents can


def generates(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in ("generateContent", "streamGenerateContent")]


def options(composer) -> list[str]:
    dropdown = composer.dropdown
    return [str(dropdown.get_option_at_index(i).prompt) for i in range(dropdown.option_count)]


async def type_text(pilot, composer, text: str) -> None:
    composer.set_text(text)
    composer.area.focus()
    await pilot.pause()


async def test_at_path_completes_files_as_text_and_the_file_reaches_the_wire(
    emulator, emulator_clock, tmp_path, monkeypatch
):
    work = tmp_path / "work"  # tmp_path holds the test's data dirs too
    (work / "src").mkdir(parents=True)
    (work / "src" / "main.py").write_text("print('hi')\n")
    (work / HOSTILE).write_text("[bold]not markup[/] \x1b[2J\n")
    monkeypatch.chdir(work)
    app = make_app(emulator, SharedClock(emulator_clock), model="flash")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        composer = chat.composer
        await type_text(pilot, composer, "look at @")
        await until(pilot, lambda: composer.dropdown_open)
        assert options(composer) == ["@src/  folder", "@notes [bold]x[red] ␛[31m.md"], "folders first; escapes visible"
        await pilot.press("tab")
        await pilot.pause()
        assert composer.text == "look at @src/"
        await until(pilot, lambda: composer.dropdown_open and options(composer) == ["@src/main.py"])
        await pilot.press("tab")
        await pilot.pause()
        assert composer.text == "look at @src/main.py "
        await type_text(pilot, composer, composer.text + "and @n")
        await until(pilot, lambda: composer.dropdown_open)
        await pilot.press("tab")
        await pilot.pause()
        assert composer.text == f'look at @src/main.py and @"{HOSTILE}" '
        await pilot.press("enter")
        await until(pilot, lambda: len(answers(chat)) == 1 and "·" in answers(chat)[0]._label, timeout=20)
        (request,) = generates(emulator)
        parts = request["contents"][-1]["parts"]
        assert [p["kind"] for p in parts] == ["text", "text", "text"]
        expected = f"--- {HOSTILE} ---\n[bold]not markup[/] \x1b[2J\n"
        assert parts[1]["sha256"] == hashlib.sha256(expected.encode()).hexdigest()
        user = next(m for m in chat.conversation.messages() if m.role == "user")
        shown = str(user.query_one(".files").render())
        assert "📎 src/main.py (text" in shown and "📎 notes [bold]x[red] ␛[31m.md (text" in shown


async def test_a_missing_file_is_refused_in_one_line_and_the_prompt_kept(
    emulator, emulator_clock, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    app = make_app(emulator, SharedClock(emulator_clock), model="flash")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await type_text(pilot, chat.composer, "read @docs/gone.md")
        await pilot.press("enter")
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications]
        assert any(n.startswith("docs/gone.md: No such file") for n in notes), notes
        assert chat.composer.text == "read @docs/gone.md" and emulator.requests() == []


def image_app(emulator, emulator_clock):
    from gemtui.tui.app import GemtuiApp

    emulator.set_tier("demo", "tier1")
    config = Config({})
    runtime = build_runtime(
        profile_name="demo",
        project="demo",
        tier="tier1",
        api_key="demo-key",
        endpoint=emulator.base_url,
        api_version=None,
        config=config,
        clock=SharedClock(emulator_clock),
    )
    return GemtuiApp(lambda: Opened(runtime), config=config, model="gemini-2.5-flash-image", clock_tick_s=0.2)


async def ask_for_an_image(pilot):
    """Send a prompt to the image model and wait for the answer's file line; returns the chat screen."""
    chat = await ready(pilot)
    await type_text(pilot, chat.composer, "a green square")
    await pilot.press("enter")
    await until(pilot, lambda: answers(chat) and answers(chat)[0].query(".files"), timeout=20)
    return chat


async def test_a_returned_image_is_saved_shown_and_opened(
    emulator, emulator_clock, tmp_path, isolated_dirs, monkeypatch
):
    from gemtui.tui.slash import files

    viewer = tmp_path / "viewer.sh"
    seen = tmp_path / "opened.txt"
    viewer.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{seen}"\n')
    viewer.chmod(0o700)
    monkeypatch.setattr(files, "opener", lambda: str(viewer))
    monkeypatch.setenv("COLORTERM", "truecolor")  # a terminal that can draw the preview
    app = image_app(emulator, emulator_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ask_for_an_image(pilot)
        folder = isolated_dirs / "data" / "gemtui" / "images"
        (saved,) = list(folder.iterdir())
        assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        shown = str(answers(chat)[0].query_one(".files").render())
        assert shown.startswith(f"🖼 {saved} (32×32 PNG") and "/open" in shown
        stored = chat.store.messages(chat.conv_id)[-1]
        assert [image.path for image in stored.images] == [str(saved)]
        await type_text(pilot, chat.composer, "/open")
        await pilot.press("enter")
        await until(pilot, lambda: seen.exists() and seen.read_text() == str(saved))
        seen.unlink()
        await pilot.press("ctrl+g")  # the key does what /open does
        await until(pilot, lambda: seen.exists() and seen.read_text() == str(saved))

        await until(pilot, lambda: drawn_previews(chat) == [(24, 12)])  # 32×32 shrunk to 24 pixels a side
        assert preview_rows(chat) == ["▄" * 24] * 12  # half-block cells, one pixel above another
        await chat.show_conversation()  # the stored conversation drawn again (a resume, /sessions)
        await until(pilot, lambda: drawn_previews(chat) == [(24, 12)])


def drawn_previews(chat) -> list[tuple[int, int]]:
    from gemtui.tui.widgets.image_preview import ImagePreview

    previews = [p for view in answers(chat) for p in view.query(ImagePreview)]
    return [(p.size.width, p.size.height) for p in previews if p.preview is not None]


def preview_rows(chat) -> list[str]:
    from textual.geometry import Region

    from gemtui.tui.widgets.image_preview import ImagePreview

    preview = answers(chat)[0].query_one(ImagePreview)
    return [strip.text for strip in preview.render_lines(Region(0, 0, *preview.size))]


async def test_no_preview_where_the_terminal_cannot_draw_one(emulator, emulator_clock, monkeypatch):
    from gemtui.tui.widgets.image_preview import ImagePreview

    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "linux")  # the console: 8 colours
    app = image_app(emulator, emulator_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ask_for_an_image(pilot)
        await pilot.pause(0.2)
        assert not answers(chat)[0].query(ImagePreview)  # the path line and /open stand in
        assert "/open to view" in str(answers(chat)[0].query_one(".files").render())
