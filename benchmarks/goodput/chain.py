"""The whole model chain under surprises: gemtui's `auto` against a common fallback recipe.

Every cell sends the same hour of arrivals (Flash's workload: ~400 prompts, bursty, short and long) from its
own project, over the chain Pro -> Flash -> Flash-Lite, while the emulator springs one kind of surprise:

* 503:     Pro answers 503 "overloaded" to its next 10 requests, three times (+12, +27, +42 min);
* rpd:     another client spends Pro's whole day at +20 min (Pro per-day exhausted: a 429 RPD);
* oneoff:  another client's single burst fills Pro's minute at +10 min (5 requests), then leaves;
* ghost:   another client stays all hour on Pro (1 RPM x 20k tokens) and Flash (3 RPM x 50k tokens).

Strategies:

* auto:     gemtui's own path with `--model auto`: the batch dispatcher (`decide` then
            `send(first_decision=...)`, up to 8 at once) over the chain; the engine books every surprise and the
            same request is routed again at once. Default `wait_threshold_s` (20 s).
* auto-t0:  the same with `wait_threshold_s = 0` (never wait for Pro while another model can go now).
* fallback: the common recipe for a chain (a fallback list inside a retry loop): each prompt streams from Pro
            the moment it arrives; on a 429 or 5xx it tries Flash, then Flash-Lite, at once; when all three
            failed, `wait_random_exponential(multiplier=1, max=60)` and a new round, at most 5 rounds.

The bound is the chain's capacity: `oracle_bound` over one pooled server whose windows admit the sum of the
chain's RPM and TPM (less Pro's after it is exhausted for the day), which no schedule over the real chain can
beat. Surprises that cost 429s are counted from the 429s the client saw, grouped by model and server minute:
the target is at most one 429 per (model, minute) with any. Wait is arrival -> first streamed token.

Faults in the emulator are not per project, so the 503 cells talk to an emulator of their own, and each
strategy runs in a pass of its own. The chain runs on its own clock and emulators, slower than the quota
suite by default (`--chain-speed 30`): every real millisecond the client spends is `speed` simulated ones,
and the auto strategy's answers go through gemtui's whole send path.
"""

from __future__ import annotations

import asyncio
import random
import re
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.goodput.bound import oracle_bound
from benchmarks.goodput.strategies import dispatch_line
from benchmarks.goodput.workload import Prompt

PRO, FLASH, LITE = "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"
CHAIN = (PRO, FLASH, LITE)
CHAIN_LIMITS = {PRO: (5, 250_000, 100), FLASH: (15, 1_000_000, 500), LITE: (15, 250_000, 1_000)}  # free tier
WORKLOAD_MODEL = FLASH
SCENARIOS = ("503", "rpd", "oneoff", "ghost")
GHOSTS = {PRO: (1.0, 20_000), FLASH: (3.0, 50_000)}
BURST_503 = (12, 27, 42)  # minutes of a 60-minute hour (scaled for other lengths)
BURST_503_COUNT = 10
RPD_AT, ONEOFF_AT, ONEOFF_REQUESTS = 20, 10, 5
MAX_ROUNDS = 5


@dataclass
class ChainRecord:
    prompt: Prompt
    arrival: float
    outcome: str = "unsent"  # ok | lost | unsent
    model: str | None = None  # the model that answered
    first_token: float | None = None
    note: str = ""

    @property
    def wait(self) -> float | None:
        return self.first_token - self.arrival if self.outcome == "ok" and self.first_token else None


@dataclass
class Seen:
    """What the client saw on the wire: (emulator time, model, HTTP status, the 429's quota ids) of every
    generate answer."""

    answers: list[tuple[float, str, int, str]] = field(default_factory=list)

    def hook(self, clock: Any):
        async def on_response(response: Any) -> None:
            path = response.request.url.path
            if "GenerateContent" not in path:
                return
            model = path.rsplit("/", 1)[-1].split(":")[0]
            quota = ""
            if response.status_code == 429:
                await response.aread()  # an error body is small; the SDK reads the cached copy
                quota = ",".join(sorted({_dimension(q) for q in re.findall(r'"quotaId":\s*"([^"]+)"', response.text)}))
            self.answers.append((clock.now(), model, response.status_code, quota))

        return on_response


def _dimension(quota_id: str) -> str:
    if "PerDay" in quota_id:
        return "rpd"
    return "tpm" if "Tokens" in quota_id else "ipm" if "Images" in quota_id else "rpm"


class ChainStrategy:
    name = "?"

    def __init__(self, *, clock: Any, base_url: str, key: str, project: str, t0: float, T: float) -> None:
        self.clock, self.base_url, self.key, self.project = clock, base_url, key, project
        self.t0, self.T = t0, T
        self.records: list[ChainRecord] = []
        self.tasks: set[asyncio.Task] = set()
        self.seen = Seen()

    def now(self) -> float:
        return self.clock.now()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def client(self) -> Any:
        from google import genai
        from google.genai import types

        # As gemtui's make_client builds it (no SDK retries), plus a hook that sees every answer's status.
        return genai.Client(
            api_key=self.key,
            http_options=types.HttpOptions(
                base_url=self.base_url,
                api_version="v1beta",
                timeout=120_000,
                async_client_args={"event_hooks": {"response": [self.seen.hook(self.clock)]}},
            ),
        )

    async def run(self, prompts: list[Prompt]) -> None:
        await self.start()
        for prompt in prompts:
            at = self.t0 + prompt.arrival
            if at >= self.T:
                break
            await self.clock.sleep(max(0.0, at - self.now()))
            record = ChainRecord(prompt, at)
            self.records.append(record)
            self.arrive(record)
        await self.clock.sleep(max(0.0, self.T - self.now()))

    async def start(self) -> None:
        pass

    def arrive(self, record: ChainRecord) -> None:
        raise NotImplementedError

    def busy(self) -> bool:
        return bool(self.tasks)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


class Auto(ChainStrategy):
    """gemtui `--model auto`: run_batch's dispatcher fed by arrivals (see strategies.Gemtui), with the
    default `wait_threshold_s` (20 s: the head of the line waits for Pro when Pro frees within 20 s)."""

    name = "auto"
    MAX_CONCURRENCY = 8
    THRESHOLD_S = 20.0

    async def start(self) -> None:
        from gemtui.chat.batch import single_turn_request
        from gemtui.chat.sender import Request
        from gemtui.quota.engine import QuotaEngine

        self._tmp = tempfile.TemporaryDirectory(prefix="bench-chain-")
        self.engine = QuotaEngine(clock=self.clock, tier="free", ledger_path=Path(self._tmp.name) / "ledger.sqlite")
        self.sdk = self.client()
        self.make_request = single_turn_request(
            Request(turns=[], preference="auto", policy="switch", threshold_s=self.THRESHOLD_S)
        )
        self.line: deque[ChainRecord] = deque()
        self.running = 0
        self.wake = asyncio.Event()
        self.spawn(self._dispatch())

    def arrive(self, record: ChainRecord) -> None:
        self.line.append(record)
        self.wake.set()

    def busy(self) -> bool:
        return self.running > 0

    async def _dispatch(self) -> None:
        from gemtui.chat.router import decide
        from gemtui.chat.sender import request_costs

        def decide_for(request: Any) -> Any:
            return decide(
                self.engine,
                self.project,
                request.preference,
                request_costs(request),
                policy=request.policy,
                threshold_s=request.threshold_s,
            )

        await dispatch_line(self, decide_for)

    async def _run_one(self, record: ChainRecord, request: Any, decision: Any) -> None:
        from gemtui.chat.sender import AskUser, Delta, Failed, Finished, Retrying, Waiting, send

        events = send(request, engine=self.engine, client=self.sdk, project=self.project, first_decision=decision)
        try:
            async for event in events:
                if isinstance(event, Delta) and record.first_token is None:
                    record.first_token = self.now()
                elif isinstance(event, Finished):
                    record.outcome, record.model = "ok", event.model
                elif isinstance(event, Failed | AskUser):
                    record.outcome = "lost"
                    record.note = event.failure.message if isinstance(event, Failed) else "asked"
                elif isinstance(event, Waiting | Retrying) and event.until >= self.T:
                    record.note = event.reason
                    break
        finally:
            await events.aclose()
            self.running -= 1
            self.wake.set()

    async def stop(self) -> None:
        await super().stop()
        self.engine.close()
        self._tmp.cleanup()


class AutoNoWait(Auto):
    """The same with `wait_threshold_s = 0`: never wait for Pro while another model can go now."""

    name = "auto-t0"
    THRESHOLD_S = 0.0


class Fallback(ChainStrategy):
    """A fallback list inside a retry loop, every prompt sent on arrival."""

    name = "fallback"

    async def start(self) -> None:
        self.sdk = self.client()
        self.rng = random.Random(7)

    def arrive(self, record: ChainRecord) -> None:
        self.spawn(self._one(record))

    async def _one(self, record: ChainRecord) -> None:
        for attempt in range(1, MAX_ROUNDS + 1):
            for model in CHAIN:
                if self.now() >= self.T:
                    return  # unsent
                try:
                    stream = await self.sdk.aio.models.generate_content_stream(model=model, contents=record.prompt.text)
                    async for _chunk in stream:
                        if record.first_token is None:
                            record.first_token = self.now()
                    record.outcome, record.model = "ok", model
                    return
                except Exception as exc:
                    code = getattr(exc, "code", None)
                    if not (code == 429 or (isinstance(code, int) and code >= 500)):
                        record.outcome, record.note = "lost", type(exc).__name__
                        return
            # tenacity's wait_random_exponential(multiplier=1, max=60)
            await self.clock.sleep(self.rng.uniform(0, min(60.0, 2.0**attempt)))
        record.outcome, record.note = "lost", "every model failed in every round"


CHAIN_STRATEGIES = {cls.name: cls for cls in (Auto, AutoNoWait, Fallback)}


def project_of(scenario: str, strategy: str) -> str:
    return f"chain-{scenario}-{strategy}"


def chain_bound(scenario: str, arrivals: list[tuple[float, int]], t0: float, T: float, minutes: float):
    """The pooled chain's capacity (see the module doc)."""
    rpm = sum(limits[0] for limits in CHAIN_LIMITS.values())
    tpm = sum(limits[1] for limits in CHAIN_LIMITS.values())
    rpd = sum(limits[2] for limits in CHAIN_LIMITS.values())
    pro_rpm, pro_tpm, _ = CHAIN_LIMITS[PRO]
    pro_out_from = int((t0 + RPD_AT * minutes / 60.0 * 60.0) // 60) + 1  # the window after the exhaustion

    def caps(k: int) -> tuple[int, int]:
        if scenario == "rpd" and k >= pro_out_from:
            return rpm - pro_rpm, tpm - pro_tpm
        return rpm, tpm

    return oracle_bound(arrivals, t0=t0, T=T, rpm=rpm, tpm=tpm, rpd=rpd, caps=caps)


def surprises(seen: Seen) -> tuple[int, int, int]:
    """(429s, surprises, other failed answers) the client saw. A surprise is one limit of one model found
    full in one server minute: (model, minute, the quota ids the 429 named)."""
    n429 = [(model, int(t // 60), quota) for t, model, status, quota in seen.answers if status == 429]
    others = sum(1 for _, _, status, _ in seen.answers if status >= 500)
    return len(n429), len(set(n429)), others


async def inject(scenario: str, admin: Any, project: str, clock: Any, t0: float, minutes: float) -> None:
    """Spring the scenario's surprise on `project` at its minutes of the hour."""
    scale = minutes / 60.0

    async def at(minute: float) -> None:
        await clock.sleep(max(0.0, t0 + minute * scale * 60.0 - clock.now()))

    if scenario == "503":
        for minute in BURST_503:
            await at(minute)
            await admin.http.post(
                "/_emulator/fault", json={"kind": "overloaded", "count": BURST_503_COUNT, "model": PRO}
            )
    elif scenario == "rpd":
        await at(RPD_AT)
        await admin.http.post(
            "/_emulator/invisible", json={"project": project, "model": PRO, "requests": CHAIN_LIMITS[PRO][2]}
        )
    elif scenario == "oneoff":
        await at(ONEOFF_AT)
        await admin.http.post(
            "/_emulator/invisible",
            json={"project": project, "model": PRO, "requests": ONEOFF_REQUESTS, "input_tokens": 0},
        )


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(len(values) - 1, int(k) + 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarise(scenario: str, strategy: ChainStrategy, counters: dict, bound: Any) -> dict:
    models = counters.get(strategy.project, {})
    accepted = {m: int(models.get(m, {}).get("accepted", 0)) for m in CHAIN}
    successes = sum(accepted.values())
    http_429 = sum(int(models.get(m, {}).get("rejected_429", 0)) for m in CHAIN)
    seen_429, minutes_429, failed_5xx = surprises(strategy.seen)
    waits = [r.wait for r in strategy.records if r.wait is not None]
    return {
        "scenario": scenario,
        "strategy": strategy.name,
        "project": strategy.project,
        "arrived": len(strategy.records),
        "successes": successes,
        "by_model": accepted,
        "bound": bound.value,
        "binding": bound.binding,
        "ratio": successes / bound.value if bound.value else None,
        "http_429": http_429,
        "client_429": seen_429,
        "minutes_with_429": minutes_429,
        "per_surprise": seen_429 / minutes_429 if minutes_429 else 0.0,
        "failed_5xx": failed_5xx,
        "lost": sum(r.outcome == "lost" for r in strategy.records),
        "unsent": sum(r.outcome == "unsent" for r in strategy.records),
        "wait_p50": pct(waits, 0.5),
        "wait_p95": pct(waits, 0.95),
        "wait_max": max(waits, default=None),
        "lost_notes": sorted({r.note[:100] for r in strategy.records if r.outcome == "lost"})[:3],
        "seen_429": [
            [round(t - strategy.t0, 2), model, quota]
            for t, model, status, quota in strategy.seen.answers
            if status == 429
        ],
        "records": [
            [
                round(r.arrival - strategy.t0, 2),
                r.prompt.tokens,
                r.model,
                r.outcome,
                round(r.wait, 2) if r.wait is not None else None,
            ]
            for r in strategy.records
        ],
    }


def print_chain(results: list[dict]) -> None:
    for scenario in SCENARIOS:
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        print(
            f"\n## chain · {scenario} — {rows[0]['arrived']} arrivals, chain bound {rows[0]['bound']} "
            f"({rows[0]['binding']})"
        )
        head = (
            "strategy",
            "successes",
            "bound",
            "ratio",
            "Pro/Flash/Lite",
            "429s",
            "429s per surprise",
            "5xx seen",
            "lost",
            "unsent@T",
            "p50 wait",
            "p95 wait",
        )
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            by = r["by_model"]
            print(
                "| "
                + " | ".join(
                    [
                        r["strategy"],
                        str(r["successes"]),
                        str(r["bound"]),
                        f"{r['ratio']:.3f}" if r["ratio"] is not None else "–",
                        f"{by[PRO]}/{by[FLASH]}/{by[LITE]}",
                        str(r["http_429"]),
                        f"{r['per_surprise']:.2f} ({r['minutes_with_429']} surprises)",
                        str(r["failed_5xx"]),
                        str(r["lost"]),
                        str(r["unsent"]),
                        f"{r['wait_p50']:.1f} s" if r["wait_p50"] is not None else "–",
                        f"{r['wait_p95']:.1f} s" if r["wait_p95"] is not None else "–",
                    ]
                )
                + " |"
            )
            if r["lost_notes"]:
                print(f"  {r['strategy']} lost: {'; '.join(r['lost_notes'])}")
        for auto in (r for r in rows if r["strategy"].startswith("auto") and r["ratio"] is not None):
            ok = auto["ratio"] >= 0.99 and auto["per_surprise"] <= 1.0
            print(
                f"target ({auto['strategy']}: >= 0.99 of the chain bound, <= 1 429 per surprise): "
                f"{'MET' if ok else 'MISSED'}"
            )
            if auto["seen_429"]:
                print(
                    f"  {auto['strategy']} 429s at (min, model): "
                    + ", ".join(f"+{t / 60:.1f} {m.removeprefix('gemini-2.5-')} {q}" for t, m, q in auto["seen_429"])
                )


async def run_chain(
    *,
    minutes: float,
    clock: Any,
    shared: tuple[str, Any],
    faulty: tuple[str, Any],
    prompts: list[Prompt],
    strategies: list[str],
    ghost_lead_s: float,
    grace_s: float,
) -> list[dict]:
    """One pass: every scenario for `strategies`, concurrently. `shared`, `faulty`: (base_url, admin) of the
    emulator of the surprises by project, and of the one whose faults hit the 503 cells."""
    base_url, admin = shared
    T_len = minutes * 60.0
    t0 = -(-(clock.now() + ghost_lead_s + 15.0) // 60.0) * 60.0
    T = t0 + T_len
    await clock.sleep(max(0.0, t0 - ghost_lead_s - clock.now()))
    for name in strategies:
        for model, (rpm, tokens) in GHOSTS.items():
            await admin.ghost(project_of("ghost", name), model, rpm, tokens)

    runners: list[tuple[str, ChainStrategy, Any]] = []
    for scenario in SCENARIOS:
        for name in strategies:
            url, where = faulty if scenario == "503" else shared
            project = project_of(scenario, name)
            runners.append(
                (
                    scenario,
                    CHAIN_STRATEGIES[name](
                        clock=clock, base_url=url, key=f"key-{project}", project=project, t0=t0, T=T
                    ),
                    where,
                )
            )
    injections = [
        asyncio.create_task(inject(scenario, where, s.project, clock, t0, minutes)) for scenario, s, where in runners
    ]
    admins = {id(where): where for _, _, where in runners}
    snapshot: dict[int, dict] = {}

    async def snap() -> None:
        await clock.sleep(max(0.0, T - clock.now()))
        for key, where in admins.items():
            snapshot[key] = await where.counters()

    snapper = asyncio.create_task(snap())
    await asyncio.gather(*(s.run(prompts) for _, s, _ in runners))
    await snapper
    deadline = T + grace_s  # let requests already on the wire finish
    while clock.now() < deadline and any(s.busy() for _, s, _ in runners):
        await clock.sleep(1.0)
    for _, s, _ in runners:
        await s.stop()
    for task in injections:
        task.cancel()
    for name in strategies:
        for model in GHOSTS:
            await admin.ghost(project_of("ghost", name), model, 0, 0)
    await faulty[1].http.post("/_emulator/fault", json={"clear": True})

    arrivals = [(t0 + p.arrival, p.tokens) for p in prompts if p.arrival < T_len]
    return [
        summarise(scenario, s, snapshot[id(where)], chain_bound(scenario, arrivals, t0, T, minutes))
        for scenario, s, where in runners
    ]
