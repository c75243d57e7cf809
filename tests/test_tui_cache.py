"""The response cache in the chat app: /cache on|off|clear, a cached answer labelled so on screen, in the
session store, after a resume and in /export — and nothing sent for it."""

from __future__ import annotations

from gemtui.chat.response_cache import ResponseCache, cache_key
from gemtui.chat.sessions import SessionStore
from gemtui.config import Config
from gemtui.paths import response_cache_file
from gemtui.quota.limits import PRO
from gemtui.tui.screens.confirm import ConfirmDialog
from gemtui.turns import Turn, Usage
from tests.tui_helpers import GatedClock, SharedClock, fill, labels, make_app, ready, submit, until


def sent(emulator) -> int:
    return sum(model.get("accepted", 0) for project in emulator.counters().values() for model in project.values())


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_cache_on_answers_a_repeated_question_marked_cached(emulator, emulator_clock, tmp_path):
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/cache")
        assert any(n.startswith("response cache off") for n in notes(app)), "off by default for chat"
        await submit(pilot, "/cache on")
        await submit(pilot, "what is a cache?")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)))
        first_label, first_conv = labels(chat)[0], chat.conv_id
        assert not first_label.endswith("cached") and sent(emulator) == 1

        await submit(pilot, "/new")
        await until(pilot, lambda: chat.conv_id is None and not labels(chat))
        await submit(pilot, "what is a cache?")
        await until(pilot, lambda: any(lbl.endswith("cached") for lbl in labels(chat)))
        (label,) = labels(chat)
        assert label.startswith(PRO) and label.endswith(" · cached")
        assert sent(emulator) == 1, "the repeat sent nothing"
        stored = SessionStore().messages(chat.conv_id)
        assert [(m.role, m.cached) for m in stored] == [("user", False), ("model", True)]
        assert stored[1].text == SessionStore().messages(first_conv)[1].text
        target = tmp_path / "cached.md"
        await submit(pilot, f"/export {target}")
        assert " · cached · " in target.read_text()

        await submit(pilot, "/cache")
        assert any("1 answers" in n and "1 in this run" in n for n in notes(app))
        await submit(pilot, "/cache clear")
        assert any("response cache cleared (1 answers forgotten)" in n for n in notes(app))
        await submit(pilot, "/cache sometimes")
        assert any("/cache takes on, off or clear" in n for n in notes(app))


async def test_a_resumed_conversation_still_shows_the_mark(emulator, emulator_clock):
    config = Config({"cache": {"enabled": True}})
    app = make_app(emulator, SharedClock(emulator_clock), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "same again")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)))
        await submit(pilot, "/new")
        await until(pilot, lambda: chat.conv_id is None and not labels(chat))
        await submit(pilot, "same again")
        await until(pilot, lambda: any(lbl.endswith("cached") for lbl in labels(chat)))
        conv = chat.conv_id
    assert sent(emulator) == 1

    resumed = make_app(emulator, SharedClock(emulator_clock), resume=str(conv))
    async with resumed.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await until(pilot, lambda: bool(labels(chat)))
        assert labels(chat)[0].endswith(" · cached")


async def test_cache_off_sends_every_question(emulator, emulator_clock):
    config = Config({"cache": {"enabled": True}})
    app = make_app(emulator, SharedClock(emulator_clock), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/cache off")
        for round_ in range(2):
            await submit(pilot, "ask me twice")
            await until(pilot, lambda r=round_: sum(" out" in lbl for lbl in labels(chat)) == 1)
            await submit(pilot, "/new")
            await until(pilot, lambda: chat.conv_id is None and not labels(chat))
    assert sent(emulator) == 2


async def test_a_long_wait_offers_the_kept_answer_in_a_dialog(emulator, emulator_clock):
    question = "asked before, while the cache was on"
    clock = GatedClock(emulator_clock)  # waits never end by themselves: only the dialog moves on
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        scope = app.runtime.cache_scope  # answers are kept per server
        kept = ResponseCache(response_cache_file())
        key = cache_key(scope, PRO, [Turn("user", question)], None, {"max_output_tokens": None, "generation": {}})
        kept.put(key, scope, PRO, "the kept answer", Usage(input_tokens=9, output_tokens=3))
        kept.close()
        fill(app.runtime, PRO, 5)  # Pro's minute is used up: the prompt would wait about a minute
        await submit(pilot, question)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert PRO in str(app.screen.body) and "Use cached" in app.screen.yes
        await pilot.press("y")
        await until(pilot, lambda: any(lbl.endswith("cached") for lbl in labels(chat)))
        assert labels(chat)[0] == f"{PRO} · 9 in / 3 out · cached"
        assert sent(emulator) == 0
        stored = SessionStore().messages(chat.conv_id)
        assert [(m.role, m.text, m.cached) for m in stored] == [
            ("user", question, False),
            ("model", "the kept answer", True),
        ]
