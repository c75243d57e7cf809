"""Goodput under quota: gemtui against three common ways of sending, over HTTP against the emulator.

Run:  pip install '.[bench]'; python benchmarks/bench_goodput.py [options]

    --speed X        simulated seconds per real second (default 60: an hour in a minute)
    --minutes M      length of the simulated hour T (default 60)
    --scenario S     alone | shared | both (default both)
    --model M        pro | flash | both (default both)
    --strategies L   comma list of gemtui,tenacity,sdk-retry,fixed (default all four)
    --seed N         workload seed (default 1)
    --grouping G     which strategies and scenario x model cells run at the same time (passes run one after
                     another; within a pass everything runs concurrently in one asyncio loop):
                     isolate (default): gemtui on every cell in one pass, then each cell's baselines in a
                       pass of their own, so the baselines' 429 storms cannot distort gemtui's timing;
                     each: one pass per cell, all strategies together; model: one pass per model;
                     all: a single pass
    --ttft S --tps N emulator pacing, simulated seconds / output tokens per simulated second (1.5 / 150)
    --no-memo        let the emulator re-tokenize every request (see benchmarks/goodput/server.py)
    --json PATH      also write every figure as JSON
    --suite S        quota | chain | all (default quota): `quota` is the single-model comparison above; `chain`
                     is gemtui's `auto` over the whole chain Pro -> Flash -> Flash-Lite under surprises (Pro 503
                     bursts, Pro per-day exhausted at +20 min, one-off and persistent usage by another client)
                     against a fallback-list recipe, one pass per strategy (benchmarks/goodput/chain.py), on
                     its own emulators and clock; --minutes applies to it too
    --chain-strategies L  comma list of auto,auto-t0,fallback (default all three)
    --chain-speed X  the chain's simulated seconds per real second (default 30)
                     `providers` (its own run): Gemini's free tier plus one OpenAI-compatible link that states
                     its limits in rate-limit headers, gemtui's auto mode over `[routing] route`, in simulated
                     time (benchmarks/goodput/providers_chain.py); --minutes and --seed apply

What it does. One emulator (the bundled `gemtui.emulator.Emulator`, in its own process so it has a core to
itself) serves every strategy; each strategy sends from its own project, so their quotas are independent,
and all strategies of a cell run concurrently in one asyncio loop against the same arrivals. The emulator's
clock and gemtui's `ScaledClock` share speed, epoch and start instant. Arrivals (benchmarks/goodput/
workload.py) are bursty, above RPM and TPM at times, short and long prompts; each prompt's size is the
emulator's own `countTokens`. Scenario "shared" adds another client on each strategy's project with the
emulator's `set_ghost` (Pro: 1 RPM x 20k tokens, Flash: 3 RPM x 50k tokens), invisible to the strategies.

Figures per cell and strategy: successes (requests the server admitted in [t0, T), read from the emulator's
counters at T), the oracle bound N*(T) (benchmarks/goodput/bound.py), their ratio, the 429s the server
answered by T, 429s per 20 successes, prompts the strategy lost (gave up on), prompts still unsent at T, and
p50/p95 of the wait from arrival to the send that succeeded (simulated seconds). Targets (issue): gemtui
>= 0.99 of the bound with zero 429s alone; >= 0.95 and at most one 429 per 20 successes shared.

Timing distortion is measured, not assumed: the client loop's lag and the emulator's round trip (health
probe), both in simulated seconds, are printed per cell.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.goodput import chain, workload  # noqa: E402
from benchmarks.goodput.bound import Ghost, oracle_bound  # noqa: E402
from benchmarks.goodput.strategies import STRATEGIES, Strategy  # noqa: E402
from gemtui.quota.clock import ScaledClock  # noqa: E402

MODELS = {"pro": "gemini-2.5-pro", "flash": "gemini-2.5-flash"}
LIMITS = {"gemini-2.5-pro": (5, 250_000, 100), "gemini-2.5-flash": (15, 1_000_000, 500)}  # free tier
GHOSTS = {"gemini-2.5-pro": (1.0, 20_000), "gemini-2.5-flash": (3.0, 50_000)}  # rpm, input tokens
# 01:00 Pacific on an ordinary Monday: every cell's hour falls inside one Pacific day.
EPOCH = dt.datetime(2025, 6, 16, 1, 0, 0, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()
GRACE_S = 20.0  # simulated seconds after T for requests on the wire to finish
GHOST_LEAD_S = 30.0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class EmulatorProcess:
    def __init__(
        self, *, speed: float, epoch: float, mono0: float, ttft: float, tps: float, keys: dict[str, str], memo: bool
    ) -> None:
        config = {
            "speed": speed,
            "epoch": epoch,
            "mono0": mono0,
            "ttft_s": ttft,
            "tokens_per_s": tps,
            "keys": keys,
            "memo": memo,
        }
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.goodput.server", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        self.base_url = json.loads(line)["base_url"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Admin:
    """The emulator's loopback admin endpoints (no key)."""

    def __init__(self, base_url: str) -> None:
        import httpx2

        self.http = httpx2.AsyncClient(base_url=base_url, timeout=30.0)

    async def counters(self) -> dict:
        return (await self.http.get("/_emulator/counters")).json()

    async def ghost(self, project: str, model: str, rpm: float, input_tokens: int) -> None:
        response = await self.http.post(
            "/_emulator/ghost", json={"project": project, "model": model, "rpm": rpm, "input_tokens": input_tokens}
        )
        response.raise_for_status()

    async def health_rtt(self) -> float:
        start = time.perf_counter()
        await self.http.get("/_emulator/health")
        return time.perf_counter() - start

    async def close(self) -> None:
        await self.http.aclose()


def project_of(scenario: str, model: str, strategy: str) -> str:
    return f"{scenario}-{model.split('-')[-1]}-{strategy}"


async def count_tokens(base_url: str, key: str, model: str, prompts: list[workload.Prompt]) -> None:
    """Each prompt's real size, from the emulator's countTokens over HTTP (this also warms its cache)."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
    gate = asyncio.Semaphore(4)

    async def one(prompt: workload.Prompt) -> None:
        async with gate:
            result = await client.aio.models.count_tokens(model=model, contents=prompt.text)
            prompt.tokens = int(result.total_tokens)

    await asyncio.gather(*(one(p) for p in prompts))


async def warm_up(base_url: str, key: str, model: str) -> None:
    """First calls build the SDK's models and validators (~0.5 s real, 30 s simulated): pay that before t0."""
    from google import genai
    from google.genai import types

    from gemtui.gemini.client import make_client, stream_answer
    from gemtui.turns import Turn

    text = "warm up [[tokens=5]]"
    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=base_url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    await client.aio.models.generate_content(model=model, contents=text)
    async for _ in stream_answer(make_client(key, base_url, "v1beta"), model, [Turn("user", text)]):
        pass
    bad = genai.Client(api_key="no-such-key", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
    with contextlib.suppress(Exception):  # the error path (ClientError from a 4xx body) warmed too
        await bad.aio.models.generate_content(model=model, contents=text)


async def monitor_loop(clock: ScaledClock, speed: float, stop_at: float, out: list[float]) -> None:
    """Event-loop lag: how late a 10 ms sleep wakes, in simulated seconds."""
    while clock.now() < stop_at:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append((max(0.0, time.perf_counter() - start - 0.01) * speed, clock.now()))


async def monitor_server(admin: Admin, clock: ScaledClock, speed: float, stop_at: float, out: list[float]) -> None:
    while clock.now() < stop_at:
        rtt = await admin.health_rtt() * speed
        out.append((rtt, clock.now()))
        await asyncio.sleep(0.2)


async def run_group(
    cells: list[tuple[str, str]],
    *,
    args,
    clock: ScaledClock,
    base_url: str,
    admin: Admin,
    prompts: dict[str, list[workload.Prompt]],
    strategies: list[str],
) -> list[dict]:
    speed = args.speed
    T_len = args.minutes * 60.0
    t0 = math.ceil((clock.now() + GHOST_LEAD_S + 15.0) / 60.0) * 60.0
    T = t0 + T_len

    ghosts: dict[tuple[str, str], Ghost] = {}
    await clock.sleep(max(0.0, t0 - GHOST_LEAD_S - clock.now()))
    for scenario, model in cells:
        if scenario != "shared":
            continue
        rpm, tokens = GHOSTS[model]
        for name in strategies:
            project = project_of(scenario, model, name)
            await admin.ghost(project, model, rpm, tokens)
            # The ghost's clock starts at the emulator's `now` during the call; the instant after the answer is
            # the latest it can be, and a later start only raises the bound (fewer ghost requests by any t).
            ghosts[(scenario, model, name)] = Ghost(clock.now(), rpm, tokens)

    runners: list[tuple[str, str, Strategy]] = []
    for scenario, model in cells:
        rpm = LIMITS[model][0]
        for name in strategies:
            project = project_of(scenario, model, name)
            runners.append(
                (
                    scenario,
                    model,
                    STRATEGIES[name](
                        clock=clock,
                        base_url=base_url,
                        key=f"key-{project}",
                        project=project,
                        model=model,
                        rpm=rpm,
                        speed=speed,
                        t0=t0,
                        T=T,
                    ),
                )
            )

    lag: list[float] = []
    rtt: list[float] = []
    snapshot: dict = {}

    async def snap() -> None:
        await clock.sleep(max(0.0, T - clock.now()))
        snapshot.update(await admin.counters())
        snapshot["_at"] = clock.now()

    monitors = [
        asyncio.create_task(monitor_loop(clock, speed, T, lag)),
        asyncio.create_task(monitor_server(admin, clock, speed, T, rtt)),
    ]
    snapper = asyncio.create_task(snap())
    await asyncio.gather(*(s.run(prompts[model]) for _, model, s in runners))
    await snapper
    # Let requests already on the wire finish (nothing new is sent after T).
    deadline = T + GRACE_S
    while clock.now() < deadline and any(
        any(r.sends and r.outcome == "unsent" for r in s.records) for _, _, s in runners
    ):
        await clock.sleep(1.0)
    for _, _, s in runners:
        await s.stop()
    for m in monitors:
        m.cancel()
    for scenario, model in cells:
        if scenario == "shared":
            for name in strategies:
                await admin.ghost(project_of(scenario, model, name), model, 0, 0)

    results = []
    for scenario, model, s in runners:
        rpm, tpm, rpd = LIMITS[model]
        ghost = ghosts.get((scenario, model, s.name))
        arrivals = [(t0 + p.arrival, p.tokens) for p in prompts[model] if p.arrival < T_len]
        bound = oracle_bound(arrivals, t0=t0, T=T, rpm=rpm, tpm=tpm, rpd=rpd, ghost=ghost)
        counters = snapshot.get(s.project, {}).get(model, {})
        ok = [r for r in s.records if r.outcome == "ok" and r.sends and r.sends[-1] < T]
        waits = [r.wait for r in ok]
        successes = int(counters.get("accepted", 0))
        n429 = int(counters.get("rejected_429", 0))
        results.append(
            {
                "scenario": scenario,
                "model": model,
                "strategy": s.name,
                "project": s.project,
                "successes": successes,
                "client_ok": len(ok),
                "bound": bound.value,
                "binding": bound.binding,
                "ratio": successes / bound.value if bound.value else None,
                "http_429": n429,
                "per20": 20.0 * n429 / successes if successes else None,
                "client_429": sum(r.client_429s for r in s.records),
                "lost": sum(r.outcome == "lost" for r in s.records),
                "unsent": sum(r.outcome == "unsent" for r in s.records),
                "arrived": len(s.records),
                "wait_p50": pct(waits, 0.50),
                "wait_p95": pct(waits, 0.95),
                "ghost_requests": int(counters.get("ghost_requests", 0)),
                "retries": [
                    {
                        "at_min": round((t - t0) / 60, 3),
                        "send_s_in_minute": round((r.sends[-1] if r.sends else t) % 60, 2),
                        "tokens": r.prompt.tokens,
                        "reason": why[:300],
                    }
                    for r in s.records
                    for t, why in r.log
                ],
                "attempts": [
                    [round(x - t0, 3) for x in r.sends]
                    + [r.outcome, r.note[:400], round(r.done_at - t0, 3) if r.done_at else None]
                    for r in s.records
                ]
                if s.name == "gemtui"
                else [],
                "lost_notes": sorted({r.note.split(" (")[0][:120] for r in s.records if r.outcome == "lost"})[:3],
            }
        )
    lag = [x for x in lag if x[1] >= t0]  # the hour only (setting up before t0 costs nothing measured)
    rtt = [x for x in rtt if x[1] >= t0]
    worst_lag = max(lag, default=(None, t0))
    worst_rtt = max(rtt, default=(None, t0))
    meta = {
        "t0": t0,
        "T": T,
        "snapshot_late_s": snapshot.get("_at", T) - T,
        "loop_lag_p50": pct([v for v, _ in lag], 0.5),
        "loop_lag_p99": pct([v for v, _ in lag], 0.99),
        "loop_lag_max": worst_lag[0],
        "loop_lag_max_at_min": (worst_lag[1] - t0) / 60,
        "server_rtt_p50": pct([v for v, _ in rtt], 0.5),
        "server_rtt_p99": pct([v for v, _ in rtt], 0.99),
        "server_rtt_max": worst_rtt[0],
        "server_rtt_max_at_min": (worst_rtt[1] - t0) / 60,
    }
    for r in results:
        r["timing"] = meta
    return results


def fmt(value, spec: str = "", none: str = "–") -> str:
    return none if value is None else format(value, spec)


def print_table(cell_results: list[dict], scenario: str, model: str, prompts: list[workload.Prompt]) -> None:
    rows = [r for r in cell_results if r["scenario"] == scenario and r["model"] == model]
    if not rows:
        return
    timings = {}
    for r in rows:
        timings.setdefault(id(r["timing"]), (r["timing"], []))[1].append(r["strategy"])
    longs = sum(p.kind == "long" for p in prompts)
    print(
        f"\n## {scenario} · {model} — {rows[0]['arrived']} arrivals ({longs} long), "
        f"bound {rows[0]['bound']} ({rows[0]['binding']})"
    )
    head = ("strategy", "successes", "bound", "ratio", "429s", "429s/20", "lost", "unsent@T", "p50 wait", "p95 wait")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print(
            "| "
            + " | ".join(
                [
                    r["strategy"],
                    str(r["successes"]),
                    str(r["bound"]),
                    fmt(r["ratio"], ".3f"),
                    str(r["http_429"]),
                    fmt(r["per20"], ".2f"),
                    str(r["lost"]),
                    str(r["unsent"]),
                    fmt(r["wait_p50"], ".1f") + " s" if r["wait_p50"] is not None else "–",
                    fmt(r["wait_p95"], ".1f") + " s" if r["wait_p95"] is not None else "–",
                ]
            )
            + " |"
        )
    for timing, names in timings.values():
        print(
            f"timing of the pass with {', '.join(names)} (simulated s): loop lag p50 "
            f"{fmt(timing['loop_lag_p50'], '.3f')} p99 {fmt(timing['loop_lag_p99'], '.3f')} max "
            f"{fmt(timing['loop_lag_max'], '.2f')}; emulator round trip p50 {fmt(timing['server_rtt_p50'], '.3f')} "
            f"p99 {fmt(timing['server_rtt_p99'], '.3f')} max {fmt(timing['server_rtt_max'], '.2f')}"
        )
    for r in rows:
        if r["bound"] and r["ratio"] is not None and r["ratio"] > 1.0:
            print(f"  note: {r['strategy']} above the bound — the bound is wrong or time was distorted")
        if r["client_ok"] != r["successes"]:
            print(
                f"  note: {r['strategy']}: {r['client_ok']} answered with a send before T, "
                f"{r['successes']} admitted by T per the emulator"
            )
        for x in r["retries"][:12]:
            print(f"  {r['strategy']} 429 at +{x['at_min']:.2f} min ({x['tokens']:,} tokens): {x['reason'][:200]}")
        if r["lost_notes"]:
            print(f"  {r['strategy']} lost: {'; '.join(r['lost_notes'])}")
    g = next((r for r in rows if r["strategy"] == "gemtui"), None)
    if g and g["ratio"] is not None:
        if scenario == "alone":
            ok = g["ratio"] >= 0.99 and g["http_429"] == 0
            print(f"target (alone: >= 0.99 of the bound, zero 429s): {'MET' if ok else 'MISSED'}")
        else:
            ok = g["ratio"] >= 0.95 and (g["per20"] or 0) <= 1.0
            print(f"target (shared: >= 0.95 of the bound, <= 1 429 per 20 successes): {'MET' if ok else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--scenario", choices=("alone", "shared", "both"), default="both")
    parser.add_argument("--model", choices=("pro", "flash", "both"), default="both")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grouping", choices=("isolate", "each", "model", "all"), default="isolate")
    parser.add_argument("--ttft", type=float, default=1.5)
    parser.add_argument("--tps", type=float, default=150.0)
    parser.add_argument("--no-memo", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--suite", choices=("quota", "chain", "providers", "all"), default="quota")
    parser.add_argument("--chain-strategies", default=",".join(chain.CHAIN_STRATEGIES))
    parser.add_argument("--chain-speed", type=float, default=30.0)
    args = parser.parse_args()
    if args.suite == "providers":
        return run_providers(args)
    chain_names = [s.strip() for s in args.chain_strategies.split(",") if s.strip()]
    if any(s not in chain.CHAIN_STRATEGIES for s in chain_names):
        parser.error(f"unknown chain strategies: {args.chain_strategies}")
    passes_quota = args.suite != "chain"

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies: {', '.join(unknown)}")
    scenarios = ["alone", "shared"] if args.scenario == "both" else [args.scenario]
    models = list(MODELS.values()) if args.model == "both" else [MODELS[args.model]]
    cells = [(s, m) for m in models for s in scenarios] if passes_quota else []
    if args.grouping == "isolate":
        baselines = [s for s in strategies if s != "gemtui"]
        passes = ([(cells, ["gemtui"])] if "gemtui" in strategies else []) + (
            [([c], baselines) for c in cells] if baselines else []
        )
    elif args.grouping == "all":
        passes = [(cells, strategies)]
    elif args.grouping == "model":
        passes = [([c for c in cells if c[1] == m], strategies) for m in models]
    else:
        passes = [([c], strategies) for c in cells]

    wall = time.monotonic()
    corpus = workload.Corpus(args.seed)
    run_chain = args.suite != "quota" and bool(chain_names)
    if run_chain and chain.WORKLOAD_MODEL not in models:
        models = [*models, chain.WORKLOAD_MODEL]
    if not passes_quota:
        models = [chain.WORKLOAD_MODEL]
    prompts = {m: workload.build(m, minutes=args.minutes, seed=args.seed, corpus=corpus) for m in models}

    keys = {"key-measure": "measure"}
    for scenario, model in cells:
        for name in strategies:
            project = project_of(scenario, model, name)
            keys[f"key-{project}"] = project
    if run_chain:
        for scenario in chain.SCENARIOS:
            for name in chain_names:
                keys[f"key-{chain.project_of(scenario, name)}"] = chain.project_of(scenario, name)
    mono0 = time.monotonic()
    clock = ScaledClock(args.speed, EPOCH)
    emulator = EmulatorProcess(
        speed=args.speed, epoch=EPOCH, mono0=mono0, ttft=args.ttft, tps=args.tps, keys=keys, memo=not args.no_memo
    )
    chain_emulators: list[EmulatorProcess] = []
    if run_chain:  # the surprises by project, and the 503 faults, each on an emulator at the chain's speed
        chain_mono0 = time.monotonic()
        chain_clock = ScaledClock(args.chain_speed, EPOCH)
        chain_emulators = [
            EmulatorProcess(
                speed=args.chain_speed,
                epoch=EPOCH,
                mono0=chain_mono0,
                ttft=args.ttft,
                tps=args.tps,
                keys=keys,
                memo=not args.no_memo,
            )
            for _ in range(2)
        ]
    print(
        f"goodput: emulator {emulator.base_url} (own process), speed {args.speed:g}, T {args.minutes:g} min, "
        f"seed {args.seed}, grouping {args.grouping}; clock skew {(clock.epoch - EPOCH):+.6f} s epoch, "
        f"start offset {(clock._real_start - mono0) * args.speed * 1000:.3f} simulated ms",
        flush=True,
    )

    chain_results: list[dict] = []

    async def go() -> list[dict]:
        admin = Admin(emulator.base_url)
        try:
            started = time.monotonic()
            for model in models:
                await count_tokens(emulator.base_url, "key-measure", model, prompts[model])
            from gemtui.chat.sender import estimate_cost
            from gemtui.turns import Turn

            for model in models:
                ps = prompts[model]
                ratios = [estimate_cost([Turn("user", p.text)], None).input_tokens / p.tokens for p in ps]
                print(
                    f"  {model}: {len(ps)} prompts, {sum(p.tokens for p in ps):,} tokens "
                    f"(long {min((p.tokens for p in ps if p.kind == 'long'), default=0):,}–"
                    f"{max((p.tokens for p in ps if p.kind == 'long'), default=0):,}); gemtui's estimate / "
                    f"countTokens {min(ratios):.2f}–{max(ratios):.2f}",
                    flush=True,
                )
            print(f"  counted in {time.monotonic() - started:.1f} s", flush=True)
            await warm_up(emulator.base_url, "key-measure", models[0])
            results: list[dict] = []
            for group, names in passes if cells else []:
                started = time.monotonic()
                got = await run_group(
                    group,
                    args=args,
                    clock=clock,
                    base_url=emulator.base_url,
                    admin=admin,
                    prompts=prompts,
                    strategies=names,
                )
                results.extend(got)
                print(
                    f"  pass: {', '.join(names)} on {', '.join(f'{s}/{m}' for s, m in group)} "
                    f"in {time.monotonic() - started:.1f} s",
                    flush=True,
                )
            if run_chain:
                started = time.monotonic()
                for emu in chain_emulators:  # their tokenizer caches, warmed like the main one's
                    await count_tokens(emu.base_url, "key-measure", chain.WORKLOAD_MODEL, prompts[chain.WORKLOAD_MODEL])
                print(
                    f"  chain emulators (speed {args.chain_speed:g}) counted in {time.monotonic() - started:.1f} s",
                    flush=True,
                )
                shared, faulty = ((emu.base_url, Admin(emu.base_url)) for emu in chain_emulators)
                try:
                    for name in chain_names:
                        started = time.monotonic()
                        got = await chain.run_chain(
                            minutes=args.minutes,
                            clock=chain_clock,
                            shared=shared,
                            faulty=faulty,
                            prompts=prompts[chain.WORKLOAD_MODEL],
                            strategies=[name],
                            ghost_lead_s=GHOST_LEAD_S,
                            grace_s=GRACE_S,
                        )
                        chain_results.extend(got)
                        print(
                            f"  pass: {name} on the chain ({', '.join(chain.SCENARIOS)}) in "
                            f"{time.monotonic() - started:.1f} s",
                            flush=True,
                        )
                finally:
                    await shared[1].close()
                    await faulty[1].close()
            order = {name: i for i, name in enumerate(strategies)}
            results.sort(key=lambda r: order[r["strategy"]])
            for scenario, model in cells:
                print_table(results, scenario, model, prompts[model])
            chain.print_chain(chain_results)
            return results
        finally:
            await admin.close()

    try:
        results = asyncio.run(go())
    finally:
        emulator.close()
        for emu in chain_emulators:
            emu.close()
    print(
        f"\nwhole run {time.monotonic() - wall:.0f} s; load average {os.getloadavg()[0]:.2f} "
        "(on 2 cores, above ~1.5 means other work shared the machine)",
        flush=True,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "results": results,
                    "chain": chain_results,
                },
                indent=1,
            )
        )
    return 0


def run_providers(args: argparse.Namespace) -> int:
    """`--suite providers`: the chain across providers (benchmarks/goodput/providers_chain.py)."""
    from benchmarks.goodput import providers_chain

    result = asyncio.run(providers_chain.run(minutes=args.minutes, seed=args.seed))
    providers_chain.print_result(result)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "providers": result,
                },
                indent=1,
            )
        )
    ok = result["ratio"] is not None and result["ratio"] >= 0.99 and result["gemini_429"] + result["link_429"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
