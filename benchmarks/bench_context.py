"""How long deciding the trim takes in a 2,000-turn conversation, turn after turn.

Run:  python benchmarks/bench_context.py [--turns 2000] [--seed 0]

A conversation grows one turn at a time (request planned, answer appended, calibration updated from a
synthetic usageMetadata, as the app does). Three ways of planning are timed in the same run:

* incremental: `plan_context` with one long-lived estimator (cached counts, cached prefix sums);
* reloaded:    the same, but every planned list is fresh copies of the messages, as if read back from
               the sessions store (the cache must compare texts instead of object identity);
* naive:       the baseline — re-estimate every message each turn and walk back pair by pair.

Target: incremental < 5 ms a turn at 2,000 turns. This is a benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemtui.chat.context import ContextBudget, plan_context  # noqa: E402
from gemtui.chat.sessions import Message, SessionStore  # noqa: E402
from gemtui.chat.tokens import MESSAGE_OVERHEAD, TokenEstimator, raw_text  # noqa: E402

MODEL = "gemini-2.5-flash"
SYSTEM = "You are a concise assistant for an engineering team. Answer with code where useful."
_VOCAB_TEXT = (
    "quota window request token model minute limit budget history answer question engine ledger "
    "reserve commit release stream chunk error retry delay project key profile session context "
    "def return class import async await for while if else the a of to and in is it that"
)
VOCAB = tuple(_VOCAB_TEXT.split())


def text(rng: random.Random, lo: int, hi: int) -> str:
    words = []
    target = rng.randint(lo, hi)
    size = 0
    while size < target:
        word = rng.choice(VOCAB) if rng.random() > 0.05 else str(rng.randint(0, 9999))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def server_count(msgs: list[Message], system: str) -> int:
    """A synthetic promptTokenCount that differs from the heuristic (so calibration keeps working)."""
    return 3 + math.ceil(len(system) / 3.6) + sum(3 + math.ceil(len(m.text) / 3.6) for m in msgs)


def naive_plan(messages: list[Message], system: str, limit: int, factor: float) -> int:
    """Baseline: no cache; every message re-estimated each turn; newest pairs kept while they fit."""
    request = messages[-1]
    fixed = math.ceil((raw_text(system) + 4) * factor)
    used = raw_text(request.text) + MESSAGE_OVERHEAD
    history = messages[:-1]
    kept = 0
    i = len(history)
    while i >= 2:
        pair = raw_text(history[i - 2].text) + raw_text(history[i - 1].text) + 2 * MESSAGE_OVERHEAD
        if fixed + math.ceil((used + pair) * factor) > limit:
            break
        used += pair
        kept += 2
        i -= 2
    # Like the real planner, go on to estimate what was left out (the /context figures need it).
    for m in history[:i]:
        raw_text(m.text)
    return kept


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"mean {statistics.fmean(values) * 1e3:6.3f} ms  p50 {statistics.median(values) * 1e3:6.3f}  "
        f"p95 {p95 * 1e3:6.3f}  max {max(values) * 1e3:6.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    budget = ContextBudget(max_input_tokens=200_000, tpm_share=0.5)
    budget.set_model_tpm(MODEL, 1_000_000)  # Flash free tier: share 0.5 -> 500k; the 200k cap binds
    estimator = TokenEstimator(persist=False)
    messages: list[Message] = []
    incremental: list[float] = []
    sample_every = max(1, args.turns // 200)
    sampled: list[int] = []
    left_out_at_end = 0
    build_start = time.perf_counter()
    for turn in range(args.turns):
        messages.append(Message(len(messages) + 1, 1, "user", text(rng, 40, 600)))
        t0 = time.perf_counter()
        plan = plan_context(messages, SYSTEM, MODEL, budget, estimator)
        incremental.append(time.perf_counter() - t0)
        real = server_count(plan.sent, SYSTEM)
        assert plan.total_tokens <= budget.limit(MODEL).tokens
        plan.observe(estimator, real)  # reconcile: calibration moves every turn, as in the app
        left_out_at_end = plan.left_out
        messages.append(Message(len(messages) + 1, 1, "model", text(rng, 200, 3000), model=MODEL, input_tokens=real))
        if turn % sample_every == 0 or turn >= args.turns - 50:
            sampled.append(len(messages) - 1)  # the list length at planning time (request last)
    build_s = time.perf_counter() - build_start

    # Same turns, planned again the slow ways (on the finished conversation's prefixes).
    naive: list[float] = []
    incr_same: list[float] = []
    reloaded: list[float] = []
    limit = budget.limit(MODEL).tokens
    factor = estimator.factor(MODEL)
    for n in sampled:
        prefix = messages[:n]
        t0 = time.perf_counter()
        naive_plan(prefix, SYSTEM, limit, factor)
        naive.append(time.perf_counter() - t0)
        incr_same.append(incremental[(n - 1) // 2])
    # Reloaded: a warm estimator planning fresh copies of the last 50 turns' lists.
    warm = TokenEstimator(persist=False)
    warm._models = estimator._models  # same calibration, so the same plans
    plan_context(messages[: sampled[-51]], SYSTEM, MODEL, budget, warm)
    for n in sampled[-50:]:
        copies = [dataclasses.replace(m) for m in messages[:n]]
        t0 = time.perf_counter()
        plan_context(copies, SYSTEM, MODEL, budget, warm)
        reloaded.append(time.perf_counter() - t0)

    # For scale: reading the whole conversation back from sqlite (not part of the trim decision).
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "bench.sqlite3")
        conv = store.create(name="bench", system=SYSTEM)
        with store.transaction():
            for m in messages:
                store.append(conv.id, m.role, m.text, model=m.model, input_tokens=m.input_tokens)
        t0 = time.perf_counter()
        stored = store.messages(conv.id)
        read_s = time.perf_counter() - t0
        store.close()

    last = incremental[-200:]
    ratio = statistics.fmean(naive) / statistics.fmean(incr_same)
    print(
        f"conversation: {args.turns} turns, {len(messages)} messages, "
        f"{sum(len(m.text) for m in messages) / 1e6:.1f} M characters; budget {limit:,} tokens "
        f"({budget.limit(MODEL).binding} binds); {left_out_at_end} messages left out at the end"
    )
    cal_ratio, cal_margin = estimator.ratio(MODEL), estimator.margin(MODEL)
    print(f"calibration after the run: ratio {cal_ratio:.3f}, margin {cal_margin:.1%}")
    print(f"incremental, all turns       {ms(incremental)}")
    print(f"incremental, last 200 turns  {ms(last)}")
    print(f"reloaded copies, last 50     {ms(reloaded)}")
    print(f"naive baseline ({len(naive)} turns)  {ms(naive)}")
    print(f"incremental, same turns      {ms(incr_same)}")
    print(
        f"speed-up vs naive: {ratio:.1f}x   (target < 5 ms a turn: "
        f"{'met' if statistics.fmean(last) < 0.005 else 'MISSED'})"
    )
    print(
        f"for scale: reading {len(stored)} messages back from sqlite took {read_s * 1e3:.1f} ms; "
        f"whole simulated run {build_s:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
