"""Context budget and trimming: what a request sends, what it leaves out, and /compact's pure part."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from gemtui.chat.compact import (
    SUMMARY_SYSTEM,
    apply_compaction,
    build_summary_request,
    cheapest_first,
    prepare_compaction,
    undo_compaction,
)
from gemtui.chat.context import (
    DEFAULT_CAP,
    UNKNOWN_WINDOW,
    ContextBudget,
    ContextTooLarge,
    plan_context,
    tpm_from_engine,
)
from gemtui.chat.sessions import Message, SessionError, SessionStore
from gemtui.chat.tokens import TokenEstimator
from gemtui.config import Config

PRO, FLASH = "gemini-2.5-pro", "gemini-2.5-flash"


def make_conversation(
    pairs: int,
    *,
    user_chars: int = 200,
    model_chars: int = 800,
    conv_id: int = 1,
    request: str | None = "the new question",
) -> list[Message]:
    """`pairs` answered turns then (optionally) the pending request; ids count up from 1."""
    msgs: list[Message] = []
    for i in range(pairs):
        msgs.append(Message(len(msgs) + 1, conv_id, "user", f"q{i} " + "word " * (user_chars // 5)))
        msgs.append(
            Message(
                len(msgs) + 1,
                conv_id,
                "model",
                f"a{i} " + "text " * (model_chars // 5),
                model=FLASH,
                input_tokens=100 + i,
            )
        )
    if request is not None:
        msgs.append(Message(len(msgs) + 1, conv_id, "user", request))
    return msgs


def budget(tokens: int | None = None, **kw) -> ContextBudget:
    return ContextBudget(max_input_tokens=tokens, **kw)


@pytest.fixture
def est():
    return TokenEstimator(persist=False)


def ids(msgs) -> list[int]:
    return [m.id for m in msgs]


# ---- budget --------------------------------------------------------------------------------------


def test_budget_is_the_smallest_of_its_three_parts():
    b = ContextBudget(max_input_tokens=200_000, tpm_share=0.5)
    b.set_model_tpm(PRO, 250_000)
    b.set_model_tpm(FLASH, 1_000_000)
    pro, flash = b.limit("pro"), b.limit("models/gemini-2.5-flash")
    assert (pro.tokens, pro.binding, pro.window, pro.tpm_part) == (125_000, "tpm", 1_048_576, 125_000)
    assert (flash.tokens, flash.binding) == (200_000, "cap")
    b.set_model_window(FLASH, 100_000)
    assert (b.limit(FLASH).tokens, b.limit(FLASH).binding) == (100_000, "window")
    assert "window binds" in b.limit(FLASH).describe()


def test_tpm_comes_from_the_quota_engine_when_wired():
    class Engine:
        def limits(self, project, model):
            assert project == "proj"
            return type("L", (), {"tpm": 10_000 if model == PRO else None})()

    b = ContextBudget(max_input_tokens=None, tpm_share=0.25, tpm_for=tpm_from_engine(Engine(), "proj"))
    assert (b.limit(PRO).tokens, b.limit(PRO).binding) == (2_500, "tpm")
    assert b.limit(FLASH).binding == "window" and b.limit(FLASH).tpm_part is None


def test_windows_fall_back_to_the_table_and_learned_ones_persist(tmp_path):
    b = ContextBudget(windows_path=tmp_path / "w.json")
    assert b.window("gemini-2.5-flash-lite") == 1_048_576
    assert b.window("lite") == 1_048_576
    assert b.window("some-new-model") == UNKNOWN_WINDOW
    b.set_model_window("models/some-new-model", 131_072)
    assert ContextBudget(windows_path=tmp_path / "w.json").window("some-new-model") == 131_072


def test_budget_from_config():
    cfg = Config({"context": {"max_input_tokens": 50_000, "tpm_share": 0.3, "truncate_oversized": True}})
    b = ContextBudget.from_config(cfg, persist=False)
    assert (b.max_input_tokens, b.tpm_share, b.truncate_oversized) == (50_000, 0.3, True)
    assert ContextBudget.from_config(Config({"context": {"max_input_tokens": 0}})).max_input_tokens is None
    defaults = ContextBudget.from_config(Config({"context": {"tpm_share": 7, "max_input_tokens": "x"}}))
    assert (defaults.max_input_tokens, defaults.tpm_share) == (DEFAULT_CAP, 0.5)
    with pytest.raises(ValueError):
        ContextBudget(tpm_share=0)


# ---- trimming rules ------------------------------------------------------------------------------


def test_everything_fits(est):
    msgs = make_conversation(3)
    plan = plan_context(msgs, "be brief", FLASH, budget(100_000), est)
    assert ids(plan.sent) == ids(msgs)
    assert plan.left_out == 0 and plan.left_out_ids == [] and plan.marker is None
    assert plan.total_tokens == plan.system_tokens + plan.pinned_tokens + plan.turn_tokens
    assert plan.system_tokens > 0 and plan.pinned_tokens == 0
    assert plan.request.id == msgs[-1].id
    assert 0 < plan.margin_tokens < plan.total_tokens and plan.central_tokens < plan.total_tokens


def test_newest_whole_pairs_are_kept_and_oldest_left_out(est):
    msgs = make_conversation(20)
    per_pair = plan_context(msgs[:3], None, FLASH, budget(100_000), est).turn_tokens
    plan = plan_context(msgs, None, FLASH, budget(per_pair * 5), est)
    history = plan.sent[:-1]
    assert history, "some history fits"
    assert history[0].role == "user" and len(history) % 2 == 0  # never half a pair
    assert ids(history) == ids(msgs[-1 - len(history) : -1])  # one unbroken stretch before the request
    assert plan.left_out == 40 - len(history)
    assert plan.left_out_ids == ids(msgs[: plan.left_out])
    assert plan.total_tokens <= plan.budget.tokens
    assert plan.marker == f"{plan.left_out} earlier messages not sent — /context"
    assert plan.first_sent_id == history[0].id
    # Maximal: one more pair would not have fitted.
    bigger = plan_context(msgs[plan.left_out - 2 :], None, FLASH, budget(10**6), est)
    assert bigger.total_tokens > plan.budget.tokens


def test_a_big_old_turn_stops_the_history_even_if_older_ones_are_small(est):
    msgs = make_conversation(6, user_chars=50, model_chars=50)
    huge = dataclasses.replace(msgs[5], text="big " * 5000)  # the answer of pair 3
    msgs[5] = huge
    plan = plan_context(msgs, None, FLASH, budget(1_500), est)
    assert ids(plan.sent[:-1]) == ids(msgs[6:12])
    assert plan.left_out == 6


def test_pinned_messages_are_always_sent_in_their_place(est):
    msgs = make_conversation(20)
    msgs[2] = dataclasses.replace(msgs[2], pinned=True)  # an old user question
    msgs[9] = dataclasses.replace(msgs[9], pinned=True)  # an old answer
    small = plan_context(msgs, "sys", FLASH, budget(3_000), est)
    sent = ids(small.sent)
    assert msgs[2].id in sent and msgs[9].id in sent
    assert sent == sorted(sent)  # chronological order kept
    assert small.pinned_count == 2 and small.pinned_tokens > 0
    assert msgs[2].id not in small.left_out_ids and msgs[9].id not in small.left_out_ids
    unpinned = plan_context(make_conversation(20), "sys", FLASH, budget(3_000), est)
    assert len(small.sent) - 2 < len(unpinned.sent)  # pins take room from the newest turns
    assert small.total_tokens <= 3_000


def test_system_and_pins_over_budget_are_refused(est):
    msgs = make_conversation(2)
    msgs[0] = dataclasses.replace(msgs[0], pinned=True, text="pinned " * 3000)
    with pytest.raises(ContextTooLarge) as info:
        plan_context(msgs, "sys", PRO, budget(1_000), est)
    assert info.value.part == "fixed" and info.value.limit == 1_000
    assert "1 pinned message" in str(info.value) and "unpin" in str(info.value)
    with pytest.raises(ContextTooLarge, match="the system prompt takes"):
        plan_context(make_conversation(1), "s " * 5000, PRO, budget(1_000), est)


def test_an_oversized_request_is_refused_with_one_clear_line(est):
    msgs = make_conversation(2, request="paste " * 20_000)
    with pytest.raises(ContextTooLarge) as info:
        plan_context(msgs, None, PRO, budget(5_000), est)
    text = str(info.value)
    assert "\n" not in text and "5,000-token budget for gemini-2.5-pro" in text and "cap binds" in text
    assert info.value.part == "request" and info.value.needed > 5_000


def test_an_oversized_request_is_truncated_when_allowed(est):
    msgs = make_conversation(2, request="paste this long log line\n" * 5_000)
    plan = plan_context(msgs, "sys", PRO, budget(5_000), est, allow_truncate=True)
    assert plan.truncated and plan.request.id == msgs[-1].id
    assert "truncated by gemtui" in plan.request.text
    assert len(plan.request.text) < len(msgs[-1].text)
    assert plan.total_tokens <= 5_000
    assert plan.sent[-1] is plan.request and plan.left_out == 4  # the truncated request takes the room
    assert "truncated" in "\n".join(plan.report())


def test_the_budget_follows_the_model(est):
    msgs = make_conversation(60)
    b = budget(None)
    b.set_model_tpm(PRO, 20_000)  # a Pro-like minute: share 0.5 -> 10k
    b.set_model_tpm(FLASH, 80_000)  # a Flash-like minute: share 0.5 -> 40k
    pro = plan_context(msgs, "sys", PRO, b, est)
    flash = plan_context(msgs, "sys", FLASH, b, est)
    assert pro.budget.tokens == 10_000 and flash.budget.tokens == 40_000
    assert pro.left_out > flash.left_out
    assert pro.total_tokens <= 10_000 < flash.total_tokens <= 40_000
    # And back again: the cached scan is shared, the answer is the same as the first time.
    assert ids(plan_context(msgs, "sys", PRO, b, est).sent) == ids(pro.sent)


def test_calibration_moves_the_cut(est):
    msgs = make_conversation(40)
    b = budget(20_000)
    before = plan_context(msgs, None, FLASH, b, est)
    for _ in range(10):
        est.observe(FLASH, 1000, 2000)  # the server counts twice what we thought
    after = plan_context(msgs, None, FLASH, b, est)
    assert after.left_out > before.left_out
    assert after.total_tokens <= 20_000


def test_failed_compacted_and_pending_messages_are_never_sent(est):
    msgs = make_conversation(3)
    msgs[1] = dataclasses.replace(msgs[1], status="error")
    msgs[3] = dataclasses.replace(msgs[3], status="compacted")
    msgs.insert(6, Message(99, 1, "model", "", status="pending"))
    plan = plan_context(msgs, None, FLASH, budget(100_000), est)
    assert 2 not in ids(plan.sent) and 4 not in ids(plan.sent) and 99 not in ids(plan.sent)
    assert plan.left_out == 0


def test_planning_without_a_request_plans_history_only(est):
    msgs = make_conversation(3, request=None)
    plan = plan_context(msgs, None, FLASH, budget(100_000), est)
    assert plan.request is None and ids(plan.sent) == ids(msgs)


def test_last_real_comes_from_reconciliation(est):
    msgs = make_conversation(5)
    plan = plan_context(msgs, None, FLASH, budget(100_000), est)
    assert plan.last_real == 104 and plan.last_estimate is None  # from the newest stored answer
    plan.observe(est, real_prompt_tokens=plan.total_tokens - 10)
    again = plan_context(msgs, None, FLASH, budget(100_000), est)
    assert (again.last_estimate, again.last_real) == (plan.total_tokens, plan.total_tokens - 10)
    assert any("server counted" in line for line in again.report())


# ---- incremental planning equals planning from scratch ------------------------------------------


def reference_plan(msgs, system, model, limit_tokens, est):
    """The rules written the slow, obvious way (no caches, no prefix sums)."""
    factor = est.factor(model)
    request = (
        msgs[-1]
        if msgs and msgs[-1].role == "user" and msgs[-1].status not in ("error", "compacted") and msgs[-1].text
        else None
    )
    history = msgs[:-1] if request is not None else msgs

    def eligible(m):
        return m.status not in ("error", "compacted") and m.text and not (m.role == "model" and m.status == "pending")

    def raw(m):
        return est.raw_message(m)

    elig = [m for m in history if eligible(m)]
    pinned = [m for m in elig if m.pinned]
    units: list[list[Message]] = []
    for m in elig:
        if m.role == "user" or not units:
            units.append([])
        units[-1].append(m)
    fixed = math.ceil(est.raw_system(system) * factor) + math.ceil(sum(raw(m) for m in pinned) * factor)
    turn_raw = raw(request) if request else 0
    chosen = 0
    for k in range(1, len(units) + 1):
        cost = sum(raw(m) for m in units[-k] if not m.pinned)
        if fixed + math.ceil((turn_raw + cost) * factor) > limit_tokens:
            break
        turn_raw += cost
        chosen = k
    kept = {id(m) for u in units[len(units) - chosen :] for m in u} | {id(m) for m in pinned}
    sent = [m for m in elig if id(m) in kept] + ([request] if request else [])
    return [m.id for m in sent]


def test_the_budget_is_never_exceeded_on_random_conversations():
    rng = random.Random(42)
    for trial in range(30):
        est = TokenEstimator(persist=False)
        if trial % 3 == 0:
            for _ in range(5):
                est.observe(FLASH, 1000, rng.randint(800, 1600))
        limit = rng.choice((500, 2_000, 8_000, 50_000))
        b = budget(limit)
        msgs: list[Message] = []
        for turn in range(rng.randint(1, 40)):
            msgs.append(Message(len(msgs) + 1, trial, "user", "u " * rng.randint(1, 300), pinned=rng.random() < 0.05))
            try:
                plan = plan_context(msgs, "system " * rng.randint(0, 20), FLASH, b, est)
            except ContextTooLarge:
                msgs[-1] = dataclasses.replace(msgs[-1], status="error")
                continue
            assert plan.total_tokens <= limit, (trial, turn)
            assert plan.total_tokens == plan.system_tokens + plan.pinned_tokens + plan.turn_tokens
            assert plan.left_out + len(plan.sent) <= len(msgs)
            for _ in range(rng.choice((1, 1, 2))):
                status = rng.choice(("complete", "complete", "complete", "partial", "error"))
                msgs.append(
                    Message(
                        len(msgs) + 1,
                        trial,
                        "model",
                        "m " * rng.randint(0, 500),
                        status=status,
                        pinned=rng.random() < 0.05,
                    )
                )


def test_incremental_plans_equal_reference_plans():
    rng = random.Random(1)
    for trial in range(25):
        est = TokenEstimator(persist=False)
        limit = rng.choice((400, 1_500, 6_000))
        system = "be brief " * rng.randint(0, 10)
        msgs: list[Message] = []
        for _ in range(rng.randint(2, 30)):
            msgs.append(
                Message(len(msgs) + 1, 100 + trial, "user", "u " * rng.randint(1, 120), pinned=rng.random() < 0.08)
            )
            try:
                plan = plan_context(msgs, system, FLASH, budget(limit), est)
            except ContextTooLarge:
                msgs[-1] = dataclasses.replace(msgs[-1], status="error")
            else:
                assert ids(plan.sent) == reference_plan(msgs, system, FLASH, limit, est)
                assert plan.total_tokens <= limit
            status = rng.choice(("complete", "complete", "partial", "error"))
            answer = "m " * rng.randint(0, 200)
            msgs.append(Message(len(msgs) + 1, 100 + trial, "model", answer, status=status, pinned=rng.random() < 0.08))


def test_reloaded_and_edited_messages_give_the_same_plans(est):
    msgs = make_conversation(30)
    b = budget(8_000)
    first = plan_context(msgs, None, FLASH, b, est)
    copies = [dataclasses.replace(m) for m in msgs]  # as if read again from the store
    assert ids(plan_context(copies, None, FLASH, b, est).sent) == ids(first.sent)
    # A message in the middle changed (say, unpinned/pinned or its text edited): the scan restarts.
    edited = list(copies)
    edited[-3] = dataclasses.replace(edited[-3], text="much longer answer " * 400)
    fresh = TokenEstimator(persist=False)
    warm = plan_context(edited, None, FLASH, b, est)
    assert ids(warm.sent) == ids(plan_context(edited, None, FLASH, b, fresh).sent)
    assert warm.total_tokens == plan_context(edited, None, FLASH, b, fresh).total_tokens


# ---- /compact ------------------------------------------------------------------------------------


def stored_conversation(store: SessionStore, pairs: int) -> int:
    conv = store.create(name="long", system="sys")
    for i in range(pairs):
        store.append(conv.id, "user", f"question {i}: " + "detail " * 60)
        store.append(conv.id, "model", f"answer {i}: " + "reply " * 200, model=FLASH, input_tokens=50)
    store.append(conv.id, "user", "and now?")
    return conv.id


def test_compaction_request_and_cost(tmp_path, est):
    store = SessionStore(tmp_path / "s.sqlite3")
    conv_id = stored_conversation(store, 12)
    msgs = store.messages(conv_id)
    plan = plan_context(msgs, "sys", FLASH, budget(3_000), est)
    assert plan.left_out > 0
    job = prepare_compaction(msgs, plan.left_out_ids, "lite", est)
    assert job.model == "gemini-2.5-flash-lite" and job.requests == 1 and job.skipped == 0
    assert job.covered_ids == plan.left_out_ids and job.system == SUMMARY_SYSTEM
    assert "question 0:" in job.request_text
    assert "User: " in job.request_text and "Model: " in job.request_text
    assert job.input_tokens == est.scale(
        job.model, est.raw_system(SUMMARY_SYSTEM) + est.raw_for_text(job.request_text) + 4
    )
    line = job.describe(rpm_left=14, tpm_left=200_000, rpd_left=400)
    assert line.startswith("/compact: 1 request of ~") and "gemini-2.5-flash-lite" in line
    assert "14 requests left this minute" in line
    assert job.fits(rpm_left=1, tpm_left=job.input_tokens) and not job.fits(tpm_left=job.input_tokens - 1)
    assert not job.fits(rpm_left=0)
    with pytest.raises(SessionError):
        prepare_compaction(msgs, [], "lite", est)
    store.close()


def test_compaction_keeps_the_newest_left_out_part_that_fits(tmp_path, est):
    store = SessionStore(tmp_path / "s.sqlite3")
    conv_id = stored_conversation(store, 12)
    msgs = store.messages(conv_id)
    plan = plan_context(msgs, "sys", FLASH, budget(3_000), est)
    job = prepare_compaction(msgs, plan.left_out_ids, "lite", est, max_input_tokens=2_500)
    assert job.skipped > 0 and job.input_tokens <= 2_500
    assert job.covered_ids == plan.left_out_ids[job.skipped :]
    assert store.get_message(job.covered_ids[0]).role == "user"  # starts at a whole turn
    with pytest.raises(SessionError, match="too large"):
        prepare_compaction(msgs, plan.left_out_ids, "lite", est, max_input_tokens=50)
    store.close()


def test_apply_compaction_replaces_the_left_out_part_recoverably(tmp_path, est):
    store = SessionStore(tmp_path / "s.sqlite3")
    conv_id = stored_conversation(store, 12)
    msgs = store.messages(conv_id)
    plan = plan_context(msgs, "sys", FLASH, budget(3_000), est)
    summary = apply_compaction(store, conv_id, plan.left_out_ids, "- they discussed details", "lite")
    assert summary.pinned and summary.kind == "summary" and summary.model == "gemini-2.5-flash-lite"
    assert summary.text.startswith(f"Summary of {plan.left_out} earlier messages")
    after = store.messages(conv_id)
    assert len(after) == len(msgs) + 1  # nothing deleted
    statuses = {m.id: m.status for m in after}
    assert all(statuses[i] == "compacted" for i in plan.left_out_ids)
    position = ids(after).index(summary.id)
    assert ids(after)[position - 1] == plan.left_out_ids[-1]  # sits where the summarised part ended
    replanned = plan_context(after, "sys", FLASH, budget(3_000), est)
    assert replanned.left_out == 0 or replanned.left_out < plan.left_out
    assert replanned.sent[0].id == summary.id and replanned.pinned_count == 1
    md = store.export_markdown(conv_id)
    assert "### Summary of earlier messages by gemini-2.5-flash-lite" in md and "compacted" in md
    assert undo_compaction(store, conv_id, summary.id) == plan.left_out
    assert [m.status for m in store.messages(conv_id)] == ["complete"] * len(msgs)
    with pytest.raises(SessionError):
        apply_compaction(store, conv_id, [], "x", "lite")
    with pytest.raises(SessionError):
        apply_compaction(store, conv_id, plan.left_out_ids, "   ", "lite")
    with pytest.raises(SessionError):
        undo_compaction(store, conv_id, msgs[0].id)
    store.close()


def test_summary_request_text_and_cheapest_first():
    msgs = [Message(1, 1, "user", " hi "), Message(2, 1, "model", "hello")]
    text = build_summary_request(msgs)
    assert text.endswith("User: hi\n\nModel: hello\n\n") and "(2 messages)" in text
    assert cheapest_first(["pro", FLASH, "gemini-2.5-flash-lite", "x-model", "flash"]) == [
        "gemini-2.5-flash-lite",
        FLASH,
        PRO,
        "x-model",
    ]
