"""A long conversation against the emulator: every request inside its budget, no avoidable TPM 429,
and the tokens gemtui booked equal the tokens the server counted."""

from __future__ import annotations

import sqlite3

from gemtui.chat.conversation import ChatSession
from gemtui.chat.sender import Finished, Waiting, send
from gemtui.chat.sessions import SessionStore
from gemtui.chat.tokens import TokenEstimator
from gemtui.config import Config
from gemtui.gemini.client import make_client
from gemtui.quota.limits import LimitTable
from tests.fixtures_e2e import collect

FLASH = "gemini-2.5-flash"
TPM = 6000


async def test_long_conversation_stays_in_budget_and_books_what_the_server_counts(emulator, engine_factory, tmp_path):
    emulator.set_limits(FLASH, "free", tpm=TPM)
    config = Config({"limits": {FLASH: {"tpm": TPM}}, "context": {"tpm_share": 0.5}})
    engine = engine_factory(table=LimitTable(overrides=config.limit_overrides))
    client = make_client("key-c", emulator.base_url)
    store = SessionStore(tmp_path / "sessions.sqlite3")
    session = ChatSession(
        store,
        store.create(name="long"),
        engine=engine,
        project="proj-other",
        config=config,
        estimator=TokenEstimator(tmp_path / "calibration.json"),
    )
    budget = session.budget.limit(FLASH).tokens
    assert budget == TPM // 2

    server_counts, waited, left_out = [], 0, []
    for turn in range(24):
        prompt = f"turn {turn}: " + " ".join(f"word{turn}x{i} and more text" for i in range(70)) + " [[tokens=120]]"
        prepared = session.prepare(prompt, preference="flash")
        plan = prepared.plans[FLASH]
        assert plan.total_tokens <= budget
        left_out.append(plan.left_out)
        events = await collect(send(prepared.request, engine=engine, client=client, project="proj-other"))
        for event in events:
            session.record(event)
        finished = events[-1]
        assert isinstance(finished, Finished), finished
        server_counts.append(finished.usage.input_tokens)
        assert finished.usage.input_tokens <= budget, "the server's count fits the budget too"
        waited += sum(isinstance(e, Waiting) and e.dimension == "tpm" for e in events)

    stats = emulator.counters()["proj-other"][FLASH]
    assert stats["rejected_429"] == 0, "no TPM 429 the budget could have prevented"
    assert waited > 0, "the minute's tokens ran out and gemtui waited instead of sending"
    assert left_out[0] == 0 and left_out[-1] > 0, "old turns were left out as the conversation grew"
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        (booked,) = db.execute("SELECT SUM(tokens) FROM requests WHERE state='committed'").fetchone()
    assert booked == sum(server_counts) == stats["input_tokens_total"]
    last = session.plan(FLASH)
    assert last.last_real is not None
    assert abs(last.last_estimate - last.last_real) / last.last_real < 0.15, "the estimator converged"
