"""/auth inside the chat (add with a masked key, switch now, test, remove, keyring errors) and the /quota
sparkline of today's usage — Pilot against the emulator over real HTTP, a real Secret Service for keys."""

from __future__ import annotations

import pytest

from gemtui.quota.limits import PRO
from gemtui.tui.slash.routing import switch_profile
from tests.tui_helpers import SharedClock, fill, labels, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio

SECRET_KEY = "AIzaTuiSwitchKey0123456789abcdefXYZ9"


def screen_text(app) -> str:
    """What the terminal shows, as text (the SVG screenshot carries every visible character)."""
    return app.export_screenshot()


async def type_into(pilot, selector: str, text: str) -> None:
    from textual.widgets import Input

    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.press(*text)


async def test_auth_add_switch_test_and_next_send_uses_the_new_profile(emulator, emulator_clock, secret_service):
    from gemtui.tui.screens.auth import AddProfileDialog, AuthScreen

    emulator.add_key(SECRET_KEY, "proj-switch")
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(140, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/auth")
        await until(pilot, lambda: isinstance(app.screen, AuthScreen))
        auth = app.screen
        assert "sending as demo" in str(auth.query_one("#auth-current").content)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddProfileDialog))
        await type_into(pilot, "#add-name", "work")
        await type_into(pilot, "#add-key", SECRET_KEY)
        await type_into(pilot, "#add-endpoint", emulator.base_url)
        await type_into(pilot, "#add-project", "proj-switch")
        assert SECRET_KEY not in screen_text(app)  # the key input is masked while typed
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is auth)
        result = str(auth.query_one("#auth-result").content)
        assert result.startswith("added work (key AIza…"), result
        await pilot.pause(0.1)
        shown = screen_text(app)
        assert "work" in shown and "proj-switch" in shown
        assert SECRET_KEY not in shown and SECRET_KEY[4:-4] not in shown
        # test the profile: one models.get, in a worker
        await pilot.press("t")
        await until(pilot, lambda: str(auth.query_one("#auth-result").content).startswith(("ok:", "failed:")))
        assert str(auth.query_one("#auth-result").content).startswith("ok:")
        # switch now: the very next send goes out as `work`
        await pilot.press("u")
        await until(pilot, lambda: app.runtime.profile_name == "work")
        assert "now sending as work" in str(auth.query_one("#auth-result").content)
        assert SECRET_KEY not in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
        assert chat.sub_title.startswith("work · free")
        await submit(pilot, "who am I sending as?")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        counters = emulator.counters()
        assert counters["proj-switch"][PRO]["accepted"] == 1 and "demo" not in counters
        assert app.runtime.engine.gauges("proj-switch", [PRO])[PRO]["rpm"].used == 1
        assert SECRET_KEY not in screen_text(app)


async def test_switch_reevaluates_a_waiting_prompt_against_the_new_profile(emulator, emulator_clock, secret_service):
    from gemtui.auth import add_profile
    from gemtui.tui.screens.auth import AuthScreen
    from tests.tui_helpers import GatedClock

    emulator.add_key(SECRET_KEY, "proj-switch")
    add_profile("work", SECRET_KEY, endpoint=emulator.base_url, project="proj-switch", activate=False)
    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(140, 40)) as pilot:
        chat = await ready(pilot)
        fill(app.runtime, PRO, 5)  # demo's Pro minute is full: the prompt waits
        await submit(pilot, "waiting for demo's quota")
        await until(pilot, lambda: clock.sleepers == 1)
        await submit(pilot, "/auth")
        await until(pilot, lambda: isinstance(app.screen, AuthScreen))
        table = app.screen.query_one("#auth-table")
        table.move_cursor(row=next(i for i, key in enumerate(table.rows) if key.value == "work"))
        await pilot.press("u")
        await until(pilot, lambda: app.runtime.profile_name == "work")
        await pilot.press("escape")
        # re-evaluated against work's empty quota: sent at once, no wait for the gate
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        assert emulator.counters()["proj-switch"][PRO]["accepted"] == 1
        users = [m.text for m in chat.conversation.messages() if m.role == "user"]
        assert users == ["waiting for demo's quota"]  # stored and shown once


async def test_auth_without_keyring_is_one_line_and_remove_needs_two_presses(emulator, emulator_clock, no_keyring):
    from gemtui.tui.screens.auth import AuthScreen

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await submit(pilot, "/auth")
        await until(pilot, lambda: isinstance(app.screen, AuthScreen))
        auth = app.screen
        auth.add({"name": "nokeyring", "key": SECRET_KEY, "endpoint": "", "tier": "free", "project": ""})
        await pilot.pause(0.1)
        result = str(auth.query_one("#auth-result").content)
        assert result.startswith("not added: ") and "\n" not in result and "Traceback" not in result
        assert "keyring" in result.lower() and SECRET_KEY not in screen_text(app)
        assert auth.query_one("#auth-result").has_class("-error")
        problem = await switch_profile(app.screen.chat, "nobody")
        assert problem and "\n" not in problem and app.runtime.profile_name == "demo"


async def test_quota_sparkline_shows_todays_requests(emulator, emulator_clock):

    from gemtui.tui.screens.quota import QuotaScreen

    app = make_app(emulator, SharedClock(emulator_clock), model="pro")
    async with app.run_test(size=(140, 50)) as pilot:
        chat = await ready(pilot)
        fill(app.runtime, PRO, 2)
        await submit(pilot, "count me")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        await submit(pilot, "/quota")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.1)
        label_widget, spark = app.screen.day_widgets(PRO)
        data = spark.data
        assert len(data) == 24 and sum(data) == 3
        hour = 10  # the emulator's day starts at 10:00 Pacific: the 11th of 24 slices
        assert data[hour] == 3 and sum(data[:hour]) == 0
        label = str(label_widget.content)
        assert label.startswith(f"{PRO} · 3 requests of 100 today")
        assert sum(app.screen.day_widgets("gemini-2.5-flash")[1].data) == 0
        from textual.widgets import DataTable

        table = app.screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        ipm = next(row for row in rows if row[0] == PRO and row[1] == "IPM")
        assert ipm[2] == "n/a" and ipm[3] == "" and ipm[-1] == "n/a", "IPM 0 on the free tier reads n/a"
        rpm = next(row for row in rows if row[0] == PRO and row[1] == "RPM")
        assert rpm[2] == "3/5" and rpm[3] == "2"


async def test_a_backup_profile_answers_when_the_primary_cannot_and_says_so(emulator, emulator_clock):
    from gemtui.config import Config
    from tests.tui_helpers import GatedClock, make_runtime

    clock = GatedClock(emulator_clock)
    app = make_app(emulator, clock, model="pro")
    backup = make_runtime(emulator, clock, Config({}))
    backup.profile_name, backup.project, backup.api_key = "paid", "proj-other", "key-c"
    async with app.run_test(size=(140, 40)) as pilot:
        chat = await ready(pilot)
        app.runtime.backup = backup
        chat.update_title()
        assert "(backup: paid)" in chat.sub_title, "a configured backup is always shown"
        fill(app.runtime, PRO, 5)  # the primary's Pro minute is full, far beyond the 20 s threshold
        await submit(pilot, "who answers?")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        assert emulator.counters()["proj-other"][PRO]["accepted"] == 1
        assert "demo" not in emulator.counters()
        assert "backup profile paid" in screen_text(app).replace("&#160;", " ")
