"""The response cache on a repeated-query workload: requests and tokens saved, with the cache and without,
in the same run, through the batch path (`gemtui.chat.batch.run_batch`, as `gemtui ask --batch` uses it)
against the bundled emulator over real HTTP with the real SDK.

Run:  pip install '.[bench]'; python benchmarks/bench_cache.py [options]

    --prompts N     prompts in the batch (default 300)
    --distinct D    distinct questions they are drawn from (default 100)
    --zipf S        popularity skew of the draw (default 1.1; 0 = uniform)
    --seed N        workload seed (default 1)
    --concurrency C prompts answered at once (default 8, the batch default)
    --json PATH     also write every figure as JSON

The workload: N prompts drawn with a Zipf law over D questions of different lengths (the emulator sizes
each answer from the prompt's `[[tokens=K]]`, 40 to 400 output tokens), so popular questions come back
often and some only once; the repeat ratio reported is 1 − distinct/N of the draw actually made. Three
passes over the same prompts, each on its own emulator project (so the server's counters tell them apart)
and its own queue: `off` (no cache: every prompt is sent), `cold` (the cache on, starting empty: the first
asking of each question is sent, every repeat is served from the cache) and `warm` (the same batch again
on the cache `cold` filled, as a rerun tomorrow within the TTL would be). Requests are the emulator's own
count of requests it answered; tokens are input + output tokens as the server reported them (for a cached
answer, those of the request it repeats: what it would have cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gemtui.chat.batch import BatchResult, run_batch, single_turn_request  # noqa: E402
from gemtui.chat.queue import RequestQueue  # noqa: E402
from gemtui.chat.response_cache import CacheUse, ResponseCache  # noqa: E402
from gemtui.chat.sender import Request  # noqa: E402
from gemtui.emulator import Emulator  # noqa: E402
from gemtui.gemini.client import make_client  # noqa: E402
from gemtui.quota.engine import QuotaEngine  # noqa: E402

MODEL = "gemini-2.5-flash"
WORDS = (
    "cache",
    "quota",
    "minute",
    "token",
    "answer",
    "model",
    "request",
    "limit",
    "window",
    "batch",
    "reset",
    "stream",
    "retry",
    "budget",
    "context",
    "history",
)


def questions(rng: random.Random, distinct: int) -> list[str]:
    out = []
    for n in range(distinct):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 80)))
        out.append(f"question {n}: {body}? [[tokens={rng.randint(40, 400)}]]")
    return out


def draw(rng: random.Random, pool: list[str], count: int, skew: float) -> list[str]:
    weights = [1 / (rank + 1) ** skew for rank in range(len(pool))]
    return rng.choices(pool, weights=weights, k=count)


async def one_pass(
    emulator: Emulator,
    key: str,
    project: str,
    prompts: list[str],
    cache: CacheUse | None,
    folder: Path,
    concurrency: int,
) -> dict:
    engine = QuotaEngine(tier="tier1", ledger_path=folder / f"ledger-{project}.sqlite3")
    queue = RequestQueue(folder / f"queue-{project}.sqlite3")
    client = make_client(key, emulator.base_url)
    results: list[BatchResult] = []
    started = time.perf_counter()
    try:
        await run_batch(
            prompts,
            engine=engine,
            client=client,
            project=project,
            make_request=single_turn_request(Request(turns=[], preference="flash")),
            on_result=results.append,
            queue=queue,
            max_concurrency=concurrency,
            tick_s=None,
            cache=cache,
        )
    finally:
        engine.close()
        queue.close()
    wall_s = time.perf_counter() - started
    counted = emulator.counters().get(project, {}).get(MODEL, {})

    def tokens(lines: list[BatchResult]) -> int:
        return sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in lines)

    sent = [r for r in results if not r.cached and not r.error]
    served = [r for r in results if r.cached]
    return {
        "answered": sum(1 for r in results if not r.error),
        "failed": sum(1 for r in results if r.error),
        "requests_sent": counted.get("accepted", 0),
        "rejected_429": counted.get("rejected_429", 0),
        "served_from_cache": len(served),
        "tokens_sent": tokens(sent),
        "tokens_served_from_cache": tokens(served),
        "tokens_total": tokens(sent) + tokens(served),
        "wall_s": round(wall_s, 2),
    }


async def main_async(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    pool = questions(rng, args.distinct)
    prompts = draw(rng, pool, args.prompts, args.zipf)
    keys = {"key-off": "bench-off", "key-cold": "bench-cold", "key-warm": "bench-warm"}
    emulator = Emulator(tier="tier1", ttft_s=0.05, tokens_per_s=4000.0, keys=keys).start()
    figures: dict = {
        "prompts": len(prompts),
        "distinct_drawn": len(set(prompts)),
        "repeat_ratio": round(1 - len(set(prompts)) / len(prompts), 3),
        "zipf": args.zipf,
        "concurrency": args.concurrency,
        "seed": args.seed,
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = folder / "responses.sqlite3"
            figures["off"] = await one_pass(emulator, "key-off", "bench-off", prompts, None, folder, args.concurrency)
            cold = CacheUse(lambda: ResponseCache(path), enabled=True, path=path)
            figures["cold"] = await one_pass(
                emulator, "key-cold", "bench-cold", prompts, cold, folder, args.concurrency
            )
            cold.close()
            warm = CacheUse(lambda: ResponseCache(path), enabled=True, path=path)
            figures["warm"] = await one_pass(
                emulator, "key-warm", "bench-warm", prompts, warm, folder, args.concurrency
            )
            warm.close()
    finally:
        emulator.stop()
    off = figures["off"]
    for name in ("cold", "warm"):
        run = figures[name]
        run["requests_saved"] = off["requests_sent"] - run["requests_sent"]
        run["requests_saved_pct"] = round(100 * run["requests_saved"] / off["requests_sent"], 1)
        run["tokens_saved"] = off["tokens_sent"] - run["tokens_sent"]
        run["tokens_saved_pct"] = round(100 * run["tokens_saved"] / off["tokens_sent"], 1)
    return figures


def report(figures: dict) -> None:
    print(
        f"{figures['prompts']} prompts over {figures['distinct_drawn']} distinct questions "
        f"(repeat ratio {figures['repeat_ratio']:.1%}, Zipf {figures['zipf']}, concurrency {figures['concurrency']})"
    )
    print(
        f"{'pass':<6}{'answered':>9}{'sent':>7}{'cached':>8}{'429s':>6}{'tokens sent':>13}"
        f"{'req saved':>11}{'tok saved':>11}{'wall s':>8}"
    )
    for name in ("off", "cold", "warm"):
        run = figures[name]
        saved = (
            f"{run['requests_saved_pct']:>10}%{run['tokens_saved_pct']:>10}%"
            if name != "off"
            else f"{'—':>11}{'—':>11}"
        )
        print(
            f"{name:<6}{run['answered']:>9}{run['requests_sent']:>7}{run['served_from_cache']:>8}"
            f"{run['rejected_429']:>6}{run['tokens_sent']:>13,}{saved}{run['wall_s']:>8}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--distinct", type=int, default=100)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = asyncio.run(main_async(args))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    failed = sum(figures[name]["failed"] for name in ("off", "cold", "warm"))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
