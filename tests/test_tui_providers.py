"""An OpenAI-compatible profile inside the app: /auth shows its API kind, switching to it sends through the
real `openai` SDK to the emulator's OpenAI side, and the answer's badge names the model that answered."""

from __future__ import annotations

import pytest

from tests.tui_helpers import SharedClock, labels, make_app, ready, submit, until

pytestmark = pytest.mark.asyncio


async def test_switching_to_an_openai_profile_sends_through_its_wire(emulator, emulator_clock, secret_service):
    from gemtui.auth import add_profile
    from gemtui.tui.screens.auth import AuthScreen

    add_profile("ds", "key-c", endpoint=emulator.openai_base_url, api="openai", model="deepseek-chat", activate=False)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(160, 40)) as pilot:
        chat = await ready(pilot)
        await submit(pilot, "/auth")
        await until(pilot, lambda: isinstance(app.screen, AuthScreen))
        table = app.screen.query_one("#auth-table")
        row = next(i for i, key in enumerate(table.rows) if key.value == "ds")
        assert any("[openai]" in str(cell) for cell in table.get_row_at(row))
        table.move_cursor(row=row)
        await pilot.press("u")
        await until(pilot, lambda: app.runtime.profile_name == "ds")
        assert "API openai" in str(app.screen.query_one("#auth-current").content)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
        await submit(pilot, "hello over the other wire [[tokens=20]]")
        await until(pilot, lambda: any(" out" in lbl for lbl in labels(chat)), timeout=20)
        assert any("deepseek-chat" in lbl for lbl in labels(chat)), labels(chat)
        assert emulator.openai_counters()["served"] == 1
