"""AnswerBlock: a finished answer drawn from its captured lines keeps its colours, its text and its links
through theme changes and resizes, however wide its code or narrow the terminal."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult

from gemtui.tui.textual_compat import selection_offset
from gemtui.tui.widgets import conversation as conversation_module
from gemtui.tui.widgets.answer_block import AnswerBlock, fold_line, fold_starts
from gemtui.tui.widgets.conversation import Conversation
from tests.tui_helpers import until

URL = "https://example.com/docs"
CODE = 'print("' + "abcdefghij" * 7 + '")'  # 79 characters, no spaces: wider than a 60-column view


class Host(App[None]):
    """A conversation alone, with links recorded instead of opened."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    def compose(self) -> ComposeResult:
        yield Conversation()

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        self.opened.append(url)


def answer_blocks(app: App) -> list[AnswerBlock]:
    return list(app.query(AnswerBlock))


def captured_at_width(app: App) -> bool:
    return all(block.is_captured and not block.stale and not block.busy for block in answer_blocks(app))


def drawn(block: AnswerBlock) -> list[str]:
    return [block.render_line(y).text for y in range(block.size.height)]


async def show(pilot, text: str) -> AnswerBlock:
    await pilot.app.query_one(Conversation).add_message("model", text)
    await until(pilot, lambda: captured_at_width(pilot.app), timeout=20)
    await pilot.pause()
    return answer_blocks(pilot.app)[0]


async def test_a_theme_change_redraws_a_captured_answer_in_the_new_colours_with_the_same_text():
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        block = await show(pilot, "# Title\n\nSome *text*, `code` and **bold**.\n")
        text, rows = block._text, drawn(block)
        colours = {str(segment.style) for line in block._lines for segment in line[0]}
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await until(pilot, lambda: block.busy or not block.is_captured, step=0.01)
        await until(pilot, lambda: captured_at_width(app), timeout=20)
        assert block.is_captured and block._text == text and drawn(block) == rows
        assert {str(segment.style) for line in block._lines for segment in line[0]} != colours


async def test_code_wider_than_the_view_is_folded_whole_then_rebuilt_as_a_scrolling_fence(monkeypatch):
    monkeypatch.setattr(conversation_module, "REFLOW_QUIET_S", 2.0)  # time to look at the folded lines
    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        block = await show(pilot, f"Before.\n\n```python\n{CODE}\n```\n\nAfter.\n")
        assert CODE in block._text  # fits at 100 columns: captured
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        # Drawn folded from the lines captured at 100 columns: nothing cut, nothing wider than the view.
        assert block.is_captured and block.stale
        rows = drawn(block)
        assert all(len(row) <= block.size.width for row in rows)
        assert CODE in "".join(row.strip() for row in rows)
        # Rebuilt at 60 columns the fence is wider than the view: it stays live and scrolls sideways.
        await until(pilot, lambda: not block.busy and block.captured.is_set() and not block.stale, timeout=20)
        fences = list(block.query("MarkdownFence"))
        assert not block.is_captured and fences and fences[0].max_scroll_x > 0
        assert CODE in "\n".join(fence.code for fence in fences)


async def test_an_answer_with_code_wider_than_the_terminal_stays_live_from_the_start():
    app = Host()
    async with app.run_test(size=(50, 20)) as pilot:
        await app.query_one(Conversation).add_message("model", f"```\n{CODE}\n```\n")
        block = answer_blocks(app)[0]
        await until(pilot, lambda: block.captured.is_set(), timeout=20)
        assert not block.is_captured
        assert block.query_one("MarkdownFence").max_scroll_x > 0


async def test_a_link_in_captured_lines_keeps_its_target_and_its_place_in_the_line():
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        block = await show(pilot, f"Intro line.\n\nSee [the docs]({URL}) for more.\n")
        assert not block.children  # drawn from its lines
        found = None
        for y, (segments, _cells) in enumerate(block._lines):
            x = 0
            for segment in segments:
                if "docs" in segment.text and URL in str(segment.style.meta.get("@click", "")):
                    found = (x, y, segment)
                x += segment.cell_length
        assert found is not None, "the link's action was lost in capture"
        x, y, segment = found
        offset = selection_offset(segment.style)
        assert (
            offset is not None
            and offset[1] == y
            and block._text.splitlines()[y][offset[0] :].startswith(segment.text.strip())
        )
        await pilot.click(block, offset=(x + 1, y))
        await until(pilot, lambda: app.opened == [URL])


async def test_a_block_laid_out_with_no_width_draws_blank_rows_and_comes_back_whole():
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        block = await show(pilot, "A first paragraph of some length.\n\n- one\n- two\n")
        text, rows = block._text, drawn(block)
        await pilot.resize_terminal(3, 20)
        await pilot.pause()
        assert block.size.width == 0
        assert all(row == "" for row in drawn(block))
        await pilot.resize_terminal(80, 20)
        await until(pilot, lambda: captured_at_width(app), timeout=20)
        assert block._text == text and drawn(block) == rows


def test_folding_at_width_zero_draws_nothing_and_does_not_divide_by_zero():
    lines = [((Segment("hello"),), 5), ((), 0), ((Segment("x" * 12),), 12)]
    used = [5, 0, 12]
    assert fold_starts(used, 0) == fold_starts(used, 1) == [0, 5, 6, 18]  # no division by zero
    assert fold_starts(used, 5) == [0, 1, 2, 5]
    assert fold_line(lines, used, fold_starts(used, 0), 0, 0, Style()).cell_length == 0


def test_a_folded_row_keeps_the_link_and_moves_the_offset_by_what_it_cut():
    link = Style(bold=True) + Style.from_meta({"@click": f"link({URL!r})", "offset": (4, 7)})
    lines = [((Segment("see "), Segment("abcdefghij", link)), 14)]
    starts = fold_starts([14], 6)
    assert starts == [0, 3]
    rows = [fold_line(lines, [14], starts, y, 6, Style()) for y in range(3)]
    assert [row.text for row in rows] == ["see ab", "cdefgh", "ij    "]
    second = next(segment for segment in rows[1] if segment.text == "cdefgh")
    assert second.style.meta["@click"] == f"link({URL!r})"
    assert selection_offset(second.style) == (6, 7)  # 2 characters of the link were on the row before
