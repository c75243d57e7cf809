"""Long streamed answers: finished blocks drawn from captured lines, merged into one widget per message."""

from __future__ import annotations

import re

from gemtui.tui.textual_compat import selection_offset
from tests.tui_helpers import until

WORDS = ("quota", "window", "ledger", "request", "minute", "token", "model", "engine")


def long_answer(paragraphs: int = 40) -> str:
    """Paragraphs, lists and a code block: enough for many stream blocks (1.5 KB each)."""
    parts = []
    for i in range(paragraphs):
        if i % 7 == 3:
            parts.append("".join(f"- item {i}.{j} {WORDS[j % 8]}\n" for j in range(4)) + "\n")
        elif i % 11 == 5:
            parts.append("```python\n" + "\n".join(f"x{j} = {j} * {i}" for j in range(4)) + "\n```\n\n")
        else:
            parts.append(f"P{i} " + " ".join(WORDS[(i + j) % 8] for j in range(30)) + ".\n\n")
    return "".join(parts)


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+\d*|\d+", text)


async def stream(app, pilot, text: str, chunk: int = 40):
    from gemtui.tui.screens.chat import ChatScreen

    await until(pilot, lambda: isinstance(app.screen, ChatScreen))
    await pilot.pause()
    view = await app.screen.conversation.add_message("model", "", "gemini-2.5-pro · writing…")
    for start in range(0, len(text), chunk):
        await view.write(text[start : start + chunk])
    await view.end_stream()
    await pilot.pause()
    return view


def blocks(view):
    from textual.widgets import Markdown

    return [child for child in view.children if isinstance(child, Markdown)]


async def test_a_long_answer_ends_as_one_captured_widget_with_every_word_in_order():
    from gemtui.tui.app import GemtuiApp

    text = long_answer()
    app = GemtuiApp(None)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await stream(app, pilot, text)
        await until(pilot, lambda: all(b._lines is not None for b in blocks(view)))
        found = blocks(view)
        # ~20 stream blocks of 1.5 KB were captured and merged into the first: one widget is left.
        assert len(found) == 1, [len(b.source) for b in found]
        head = found[0]
        assert not head.children  # drawn from its lines; the Markdown widgets are gone
        assert head.full_source == text
        assert words(head._text) == words(text.replace("```python", ""))
        assert len(head._lines) == head.size.height


async def test_merged_lines_keep_their_own_line_numbers_for_selection():
    from textual.geometry import Offset
    from textual.selection import Selection

    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await stream(app, pilot, long_answer())
        await until(pilot, lambda: len(blocks(view)) == 1 and blocks(view)[0]._lines is not None)
        head = blocks(view)[0]
        for y, (segments, _cells) in enumerate(head._lines):
            for _text, style, _control in segments:
                if (offset := selection_offset(style)) is not None:
                    assert offset[1] == y  # a later block's lines were renumbered
        # Two neighbouring lines near the end (from a block merged late): selected, they come back whole.
        lines = head._text.split("\n")
        y = max(i for i in range(len(lines) - 1) if lines[i].strip() and lines[i + 1].strip())
        assert y > len(lines) // 2
        picked, _ = head.get_selection(Selection(Offset(0, y), Offset(len(lines[y + 1]), y + 1)))
        assert picked == lines[y] + "\n" + lines[y + 1]


async def test_a_narrower_window_redraws_the_merged_answer_from_its_whole_source():
    from gemtui.tui.app import GemtuiApp

    text = long_answer(24)
    app = GemtuiApp(None)
    async with app.run_test(size=(130, 30)) as pilot:
        view = await stream(app, pilot, text)
        await until(pilot, lambda: len(blocks(view)) == 1 and blocks(view)[0]._lines is not None)
        wide_height = len(blocks(view)[0]._lines)
        await pilot.resize_terminal(100, 30)  # still wide: the side panel stays, the chat narrows
        await until(
            pilot,
            lambda: (
                blocks(view)[0]._lines is not None
                and blocks(view)[0]._captured_width == blocks(view)[0].size.width
                and len(blocks(view)[0]._lines) > wide_height
            ),
            timeout=20,
        )
        await until(pilot, lambda: not blocks(view)[0]._rebuilding, timeout=20)
        assert len(blocks(view)) == 1
        head = blocks(view)[0]
        # Rebuilt block by block (one Markdown of the whole answer stalled the app for seconds).
        assert head.full_source == text and len(head.source) < len(text)
        assert words(head._text) == words(text.replace("```python", ""))
