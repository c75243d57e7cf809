"""One test per hook of gemtui.tui.textual_compat: each fails if Textual moves the internal it uses.

Run this file first against a new Textual release (see docs/tui.md, Textual versions)."""

from __future__ import annotations

import gc
import weakref

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static, TextArea

from gemtui.tui import textual_compat as compat


class OneStatic(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("alpha beta\n[not markup] gamma", id="text", markup=False)
        with Vertical(id="box"):
            yield Static("one")
            yield Static("two")
        yield Static("hidden", id="hidden")


class OneTextArea(App[None]):
    def compose(self) -> ComposeResult:
        yield TextArea("hello")


class DeferredDraw(Screen[None]):
    """A screen whose layouts go through the hook, as ChatScreen's do."""

    layouts = 0

    def compose(self) -> ComposeResult:
        yield Static("x" * 30, id="wide")

    def _refresh_layout(self, size=None, scroll=False) -> None:
        self.layouts += 1
        compat.layout_then_draw_next_turn(self, size, scroll)


class DeferredDrawApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(DeferredDraw())


class Crashing(compat.CrashHookApp[int]):
    exit_code_on_crash = 3
    BINDINGS = [("x", "explode", "")]

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Exception] = []

    def action_explode(self) -> None:
        raise RuntimeError("boom")

    def handle_unhandled_exception(self, error: Exception) -> None:
        self.seen.append(error)


async def test_widget_alone_draws_a_widget_as_the_screen_does():
    app = OneStatic()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        text = app.query_one("#text", Static)
        width, height = text.outer_size
        with compat.widget_alone(text, width, height) as alone:
            rows = alone.rows(0, 1) + alone.rows(1, height - 1)
        assert [row.text.rstrip() for row in rows] == ["alpha beta", "[not markup] gamma"]
        assert all(row.cell_length == width for row in rows)
        # Textual keeps each character's place in the text on the segments: selection relies on it.
        offsets = [compat.selection_offset(segment.style) for segment in rows[1] if segment.text.strip()]
        assert offsets and offsets[0] == (0, 1)


async def test_visible_widgets_are_what_the_screen_drew():
    app = OneStatic()
    async with app.run_test(size=(40, 10)) as pilot:
        hidden = app.query_one("#hidden", Static)
        hidden.display = False
        await pilot.pause()
        shown = compat.visible_widgets(app.screen)
        assert app.query_one("#text") in shown
        assert hidden not in shown


async def test_layout_pending_until_the_screen_has_laid_out():
    app = OneStatic()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        text = app.query_one("#text", Static)
        assert not compat.layout_pending(text)
        text.refresh(layout=True)
        assert compat.layout_pending(text)
        await pilot.pause()
        assert not compat.layout_pending(text)


async def test_forget_children_lets_removed_children_be_collected():
    app = OneStatic()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        box = app.query_one("#box", Vertical)
        child = weakref.ref(box.children[0])
        await box.remove_children()
        compat.forget_children(box)
        await pilot.pause()
        gc.collect()
        assert child() is None
        assert list(box.children) == []


async def test_clear_line_cache_makes_a_text_area_draw_its_lines_afresh():
    app = OneTextArea()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        area = app.query_one(TextArea)
        first = area.render_line(0)
        assert area.render_line(0) is first  # drawn once, then reused
        compat.clear_line_cache(area)
        assert area.render_line(0) is not first


def test_selection_offset_reads_the_offset_from_a_style():
    assert compat.selection_offset(Style.from_meta({"offset": (3, 4)})) == (3, 4)
    assert compat.selection_offset(Style(bold=True) + Style.from_meta({"offset": (0, 2)})) == (0, 2)
    assert compat.selection_offset(Style.from_meta({"@click": "app.bell"})) is None
    assert compat.selection_offset(Style(bold=True)) is None
    assert compat.selection_offset(None) is None


def test_word_breaks_wrap_at_words_and_fold_long_ones():
    assert compat.word_breaks("quota window ledger", 7) == [6, 13]
    assert compat.word_breaks("abcdefghij", 4) == [4, 8]


async def test_layout_then_draw_next_turn_runs_the_layout_as_a_batch():
    batch_counts: list[int] = []
    original = Screen._refresh_layout

    def recorded(screen, size=None, scroll=False):
        if isinstance(screen, DeferredDraw):
            batch_counts.append(screen.app._batch_count)
        original(screen, size, scroll)

    app = DeferredDrawApp()
    async with app.run_test(size=(40, 10)) as pilot:
        Screen._refresh_layout = recorded
        try:
            await pilot.pause()
            await pilot.resize_terminal(20, 10)
            await pilot.pause()
        finally:
            Screen._refresh_layout = original
        assert app.screen.layouts  # Textual lays a screen out through `_refresh_layout`
        assert batch_counts and all(count >= 1 for count in batch_counts)
        assert app._batch_count == 0
        assert app.screen.query_one("#wide").size.width == 20  # laid out and drawn at the new size


async def test_crash_hook_app_is_told_and_stops_with_its_exit_code():
    app = Crashing()
    with pytest.raises(RuntimeError, match="boom"):
        async with app.run_test(size=(40, 10)) as pilot:
            await pilot.press("x")
            await pilot.pause()
    assert [str(error) for error in app.seen] == ["boom"]
    assert app.return_code == 3
