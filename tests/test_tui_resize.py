"""Resizing the conversation: what is on screen is drawn at the new width at once, answers are rebuilt
later (on screen first), and no message loses a character on the way; the user's own text is literal."""

from __future__ import annotations

import asyncio
import re

from tests.test_tui_conversation import long_answer, stream
from tests.tui_helpers import until

HOSTILE = "first line [b]not bold\nsecond [/] line [[tokens=4000]]\n[link=x]third[/link] \x1b[31m `code`"


def bodies(view):
    return [child for child in view.children if not child.has_class("label") and not child.has_class("status")]


def drawn(widget) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


def blocks(conversation):
    return list(conversation.query("MessageView > Markdown"))


async def chat(pilot):
    from gemtui.tui.screens.chat import ChatScreen

    await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen))
    await pilot.pause()
    return pilot.app.screen.conversation


async def settled(pilot, conversation, timeout: float = 30) -> None:
    """Every answer captured at its current width, no rebuild running."""

    def done() -> bool:
        return all(
            b._lines is not None and b._captured_width == b.size.width and not b._rebuilding and not b._restoring
            for b in blocks(conversation)
        )

    await until(pilot, done, timeout=timeout)
    await pilot.pause()


async def test_a_three_line_prompt_is_shown_as_three_lines_of_literal_text():
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(120, 30)) as pilot:
        conversation = await chat(pilot)
        view = await conversation.add_message("user", HOSTILE)
        await pilot.pause()
        body = bodies(view)[0]
        lines = [line.rstrip() for line in drawn(body)]
        assert lines == [
            "first line [b]not bold",
            "second [/] line [[tokens=4000]]",
            "[link=x]third[/link] \N{REPLACEMENT CHARACTER}[31m `code`",
        ]


async def test_a_long_prompt_line_wraps_at_words_and_copies_back_as_typed():
    from textual.selection import SELECT_ALL

    from gemtui.tui.app import GemtuiApp

    text = "short\n" + " ".join(f"word{i}" for i in range(60)) + "\n\tindented\n"
    app = GemtuiApp(None)
    async with app.run_test(size=(80, 30)) as pilot:
        conversation = await chat(pilot)
        view = await conversation.add_message("user", text)
        await pilot.pause()
        body = bodies(view)[0]
        lines = drawn(body)
        assert all(len(line) == body.size.width for line in lines)
        assert len(lines) > 4  # the long line took several rows
        assert all(
            not re.search(r"word\d*$", line.rstrip()) or line.rstrip().endswith(tuple(f"word{i}" for i in range(60)))
            for line in lines
        )  # no word cut in two
        assert body.get_selection(SELECT_ALL)[0] == text


async def test_after_a_resize_what_is_on_screen_is_drawn_at_the_new_width_with_nothing_cut():
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(140, 40)) as pilot:
        conversation = await chat(pilot)
        prompt = await conversation.add_message("user", "a prompt " * 60)
        answer = await stream(app, pilot, long_answer(12))
        await settled(pilot, conversation)
        words_before = re.findall(r"\S+", "\n".join(line for b in bodies(answer) for line in b._text.split("\n")))
        # Someone types: the rebuild waits, the folded lines show meanwhile.
        getattr(conversation, "note_input", lambda: None)()
        await pilot.resize_terminal(80, 40)
        await pilot.pause()
        width = conversation.size.width
        for body in [*bodies(prompt), *bodies(answer)]:
            assert body.size.width < width
            assert all(len(line) == body.size.width for line in drawn(body))
        # Folded, not cut: every word is still there, in order (words may be split across rows).
        text = "".join("".join(line for b in bodies(answer) for line in drawn(b)).split())
        assert text == "".join(words_before)
        folded = [b for b in bodies(answer) if getattr(b, "stale", False)]
        assert folded, "the answer was rebuilt at once: this test no longer sees the folded lines"
        await settled(pilot, conversation)
        for body in bodies(answer):
            assert not body.stale and all(len(line) == body.size.width for line in drawn(body))


async def test_answers_off_screen_wait_and_the_one_scrolled_to_is_rebuilt_first():
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(140, 30)) as pilot:
        conversation = await chat(pilot)
        for i in range(5):
            await conversation.add_message("user", f"question {i}")
            await conversation.add_message("model", long_answer(6))
        await settled(pilot, conversation)
        first = blocks(conversation)[0]
        typing = True

        async def typist():
            while typing:
                conversation.note_input()
                await asyncio.sleep(0.02)

        keys = asyncio.create_task(typist())
        try:
            await pilot.resize_terminal(90, 30)
            await pilot.pause(0.6)
            # Still typing: nothing rebuilt, everything folded to the width.
            assert conversation.reflow_pending == len(blocks(conversation))
            conversation.release_anchor()  # as a user scrolling up does
            conversation.scroll_home(animate=False)
            await pilot.pause()
        finally:
            typing = False
            await keys
        rebuilt_first = None

        def one_rebuilt() -> bool:
            nonlocal rebuilt_first
            done = [b for b in blocks(conversation) if not b.stale and not b._rebuilding and not b._restoring]
            if done and rebuilt_first is None:
                rebuilt_first = done
            return rebuilt_first is not None

        await until(pilot, one_rebuilt, step=0.005)
        assert rebuilt_first == [first]
        await settled(pilot, conversation)


async def test_every_message_copies_back_the_same_after_resize_round_trips():
    from textual.selection import SELECT_ALL

    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(140, 40)) as pilot:
        conversation = await chat(pilot)
        await conversation.add_message("user", HOSTILE + "\n" + "long " * 100)
        await conversation.add_message("model", long_answer(10))
        await stream(app, pilot, long_answer(16))
        await settled(pilot, conversation)

        def copied() -> list[str]:
            return [body.get_selection(SELECT_ALL)[0] for view in conversation.messages() for body in bodies(view)]

        before = copied()
        assert before[0] == HOSTILE + "\n" + "long " * 100
        for width in (80, 140, 80, 140):
            await pilot.resize_terminal(width, 40)
            await settled(pilot, conversation)
        assert copied() == before


async def test_a_theme_change_still_redraws_captured_answers_in_the_new_colours():
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(120, 30)) as pilot:
        conversation = await chat(pilot)
        await conversation.add_message("model", "# Title\n\nSome *text* and `code`.\n")
        await settled(pilot, conversation)
        block = blocks(conversation)[0]
        text, styles = block._text, {str(s.style) for line in block._lines for s in line[0]}
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await until(pilot, lambda: block._rebuilding or block._lines is None, step=0.01)
        await settled(pilot, conversation)
        assert block._text == text
        assert {str(s.style) for line in block._lines for s in line[0]} != styles


async def test_a_terminal_too_narrow_to_show_an_answer_draws_nothing_and_keeps_the_text():
    """A block can be laid out at width 0 (a terminal a few columns wide, a dialog's layout pass):
    it draws blank rows instead of failing, and comes back whole when there is room again."""
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(None)
    async with app.run_test(size=(100, 30)) as pilot:
        conversation = await chat(pilot)
        prompt = await conversation.add_message("user", HOSTILE)
        answer = await stream(app, pilot, long_answer(3))
        await settled(pilot, conversation)
        text_before = [b._text for b in bodies(answer)]
        await pilot.resize_terminal(3, 30)
        await pilot.pause()
        for body in [*bodies(prompt), *bodies(answer)]:
            assert body.size.width == 0
            assert all(line == "" for line in drawn(body))
            assert body.render_lines(body.region.reset_offset) is not None
        await pilot.resize_terminal(100, 30)
        await settled(pilot, conversation)
        assert [b._text for b in bodies(answer)] == text_before
        assert all(any(line.strip() for line in drawn(b)) for b in [*bodies(prompt), *bodies(answer)])
