"""/system, /set and /copy in the chat app, over real HTTP to the emulator through the real SDK: the settings
reach the request's generation config, are refused out of range, survive `--resume`; /copy puts the stored
text on the clipboard (Textual's `app.clipboard`); thinking tokens are shown and stored."""

from __future__ import annotations

import re

from gemtui import paths
from gemtui.chat.sessions import SessionStore
from gemtui.config import load_config
from gemtui.quota.limits import FLASH, PRO
from tests.tui_helpers import SharedClock, labels, make_app, ready, submit, until


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def answered(pilot, screen, prompt: str) -> None:
    done = sum(" out" in label for label in labels(screen))
    await submit(pilot, prompt)
    await until(
        pilot, lambda: not screen.chat_task.busy and sum(" out" in lb for lb in labels(screen)) == done + 1, timeout=20
    )


async def test_settings_reach_the_request_are_checked_and_survive_resume(emulator, emulator_clock):
    from gemtui.tui.screens.context import ContextScreen

    app = make_app(emulator, SharedClock(emulator_clock), model="flash")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "/system You answer in haiku.")
        await submit(pilot, "/set temperature 0.3")
        await submit(pilot, "/set top_p 0.9")
        await submit(pilot, "/set max_output 700")
        await submit(pilot, "/set thinking_budget 0")
        # out of range: refused with the range, nothing stored
        await submit(pilot, "/set temperature 2.5")
        await submit(pilot, "/set top_p -0.1")
        await submit(pilot, "/set max_output 100000")
        refused = notes(app)
        assert any("temperature 2.5 is not allowed: use a number from 0 to 2" in n for n in refused)
        assert any("top_p -0.1 is not allowed: use a number from 0 to 1" in n for n in refused)
        assert any(f"max_output 100,000 is not allowed for {FLASH}: use 1–65,536" in n for n in refused)
        await answered(pilot, screen, "tell me about limits")
        sent = emulator.generation_log()[-1]
        assert sent == {
            "model": FLASH,
            "systemInstruction": "You answer in haiku.",
            "temperature": 0.3,
            "topP": 0.9,
            "maxOutputTokens": 700,
            "thinkingBudget": 0,
        }
        # budget 0 on Flash: no thinking, and the label says none
        assert "thinking" not in labels(screen)[-1]
        await submit(pilot, "/set thinking_budget default")
        await answered(pilot, screen, "and again, thinking")
        assert emulator.generation_log()[-1]["thinkingBudget"] is None
        label = labels(screen)[-1]
        thinking = int(re.search(r"/ (\d+) thinking", label).group(1))
        stored = SessionStore().messages(screen.conv_id)[-1]
        assert stored.thoughts_tokens == thinking > 0  # shown and stored with the answer
        # /context shows them
        await submit(pilot, "/context")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen))
        report = str(app.screen.query_one("#context-report").content)
        assert "temperature: 0.3 (this conversation)" in report
        assert "system prompt: You answer in haiku." in report
        await pilot.press("escape")
        # Pro cannot turn thinking off: refused on a forced Pro, with the range
        await submit(pilot, "/model pro")
        await pilot.pause(0.1)
        await submit(pilot, "/set thinking_budget 0")
        assert any(
            f"thinking_budget 0 is not allowed for {PRO} ({PRO} cannot turn thinking off): use -1 "
            "(dynamic) or 128–32,768" in n
            for n in notes(app)
        )
        conv_id = screen.conv_id

    # --resume: the stored settings ask the same
    app = make_app(emulator, SharedClock(emulator_clock), resume=str(conv_id), model="flash")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        # the stored thinking tokens, shown again
        await until(pilot, lambda: screen.conv_id == conv_id and any("thinking" in lb for lb in labels(screen)))
        await answered(pilot, screen, "after the restart")
        sent = emulator.generation_log()[-1]
        assert (sent["temperature"], sent["topP"], sent["maxOutputTokens"]) == (0.3, 0.9, 700)
        assert sent["systemInstruction"] == "You answer in haiku."
        await submit(pilot, "/system clear")
        await submit(pilot, "/set")
        assert any(
            "temperature: 0.3 (this conversation)" in n and "thinking_budget: model default" in n for n in notes(app)
        )
        await answered(pilot, screen, "no system prompt now")
        assert emulator.generation_log()[-1]["systemInstruction"] is None


async def test_config_defaults_apply_and_auto_mode_adapts_a_budget_pro_cannot_take(emulator, emulator_clock):
    paths.config_file().write_text("[generation]\ntemperature = 1.5\nthinking_budget = 0\n", encoding="utf-8")
    app = make_app(emulator, SharedClock(emulator_clock), config=load_config())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await answered(pilot, screen, "hello")
        sent = emulator.generation_log()[-1]
        # auto sends to Pro first; Pro cannot turn thinking off, so it gets its least budget instead of a 400
        assert sent["model"] == PRO and sent["temperature"] == 1.5 and sent["thinkingBudget"] == 128
        await submit(pilot, "/set thinking_budget 0")
        assert any(f"{PRO} gets 128" in n for n in notes(app))


async def test_copy_answer_message_and_code_blocks(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock), model="flash")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await submit(pilot, "/copy")
        assert notes(app)[-1] == "nothing to copy yet: no answer in this conversation"
        await answered(pilot, screen, "first question")
        store = SessionStore()
        answer = store.messages(screen.conv_id)[-1]
        await submit(pilot, "/copy")
        assert app.clipboard == answer.text
        assert notes(app)[-1] == f"copied answer #2 ({len(answer.text):,} characters)"
        await submit(pilot, "/copy 1")
        assert app.clipboard == "first question"
        assert notes(app)[-1] == "copied message #1 (14 characters)"
        await submit(pilot, "/copy 9")
        assert notes(app)[-1] == "nothing to copy: no message #9 in this conversation"
        # code blocks of the last answer: stored text with fences (the emulator writes prose)
        store.update_message(answer.id, text="Try:\n```python\nprint(1)\n```\nor\n~~~\necho 2\n~~~\n")
        await submit(pilot, "/copy code")
        assert app.clipboard == "echo 2"
        assert notes(app)[-1] == "copied code block 2 of 2 from answer #2 (6 characters)"
        await submit(pilot, "/copy code 1")
        assert app.clipboard == "print(1)"
        await submit(pilot, "/copy code 3")
        assert notes(app)[-1] == "nothing to copy: answer #2 has 2 code blocks (/copy code 1 to 2)"
        assert app.clipboard == "print(1)"


def test_code_blocks_are_found_as_markdown_shows_them():
    from gemtui.tui.slash.copy import code_blocks

    text = (
        "intro\n```python\nx = 1\n\ny = 2\n```\nmid\n````\nnested ``` fence\n````\n  ~~~sh\n  ls\n  ~~~\n"
        "```\nnot closed"
    )
    assert code_blocks(text) == ["x = 1\n\ny = 2", "nested ``` fence", "  ls", "not closed"]
    assert code_blocks("no code at all, only `inline`") == []
    assert code_blocks("```\n```") == [""]
