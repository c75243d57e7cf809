"""What `/model` accepts: aliases and table ids at once, other ids only if the server lists them."""

from __future__ import annotations

import pytest

from gemtui.chat.models import check_model, known_choice
from gemtui.gemini.client import make_client
from gemtui.quota.limits import FLASH, LITE, PRO, LimitTable

pytestmark = pytest.mark.asyncio
TABLE = LimitTable({"gemini-9-custom": {"rpm": 3}}).known_models()


async def test_known_names_need_no_server():
    assert known_choice("AUTO", TABLE) == "auto"
    assert known_choice("flash", TABLE) == FLASH and known_choice("flash-lite", TABLE) == LITE
    assert known_choice("models/gemini-2.5-pro", TABLE) == PRO
    assert known_choice("gemini-9-custom", TABLE) == "gemini-9-custom"  # limits set in the config
    assert known_choice("gemini-2.0-flash", TABLE) is None  # only the server can say
    assert (await check_model("pro", TABLE, None)).model == PRO


async def test_an_id_is_taken_only_if_the_server_lists_it(emulator):
    client = make_client("demo-key", emulator.base_url)
    assert (await check_model("gemini-2.0-flash-lite", TABLE, client)).model == "gemini-2.0-flash-lite"
    refused = await check_model("gemini-2.5-prp", TABLE, client)
    assert refused.model is None and "'gemini-2.5-prp'" in refused.problem
    assert "pro, flash, lite" in refused.problem and "gemini-2.0-flash" in refused.problem


async def test_a_server_that_cannot_be_asked_leaves_only_the_known_names():
    client = make_client("demo-key", "http://127.0.0.1:9", timeout_s=5)  # nothing listens there
    refused = await check_model("gemini-3-pro", TABLE, client)
    assert refused.model is None and "cannot check 'gemini-3-pro'" in refused.problem
    assert "\n" not in refused.problem and "auto, pro, flash, lite" in refused.problem
    assert (await check_model("auto", TABLE, None)).model == "auto"
    offline = await check_model("gemini-3-pro", TABLE, None)
    assert offline.model is None and "cannot be asked" in offline.problem
