"""The provider chain under quota: Gemini's free tier (Pro -> Flash -> Flash-Lite) plus one OpenAI-compatible
link whose only word about its limits is its `x-ratelimit-*` headers.

gemtui's real sender (auto mode over `[routing] route`), the real genai and openai SDKs, the bundled emulator
in this process on loopback HTTP serving both wires. Simulated time: the emulator reads a manual clock that
gemtui's waits advance, so an hour runs in well under a minute. One request is in flight at a time, the way
one person chats; arrivals are bursty (a Poisson background plus bursts well above the chain's per-minute
room), and a prompt that arrives while gemtui waits is sent after the ones before it.

Figures: answered in [0, T), the chain bound (an oracle that sends each arrival, in order, at the first
instant any link has room by the server's own windows: Gemini's fixed minutes and Pacific day, the link's
window that opens with its first request), their ratio, the 429s each server answered (none is unavoidable
here: no other client shares the quota), and which link answered how many.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GEMINI = {  # free tier: rpm, rpd (TPM never binds with these prompts)
    "gemini-2.5-pro": (5, 100),
    "gemini-2.5-flash": (15, 500),
    "gemini-2.5-flash-lite": (15, 1000),
}
LINK_LABEL = "relay"
LINK_MODEL = "deepseek-chat"
LINK = f"{LINK_LABEL}:{LINK_MODEL}"
LINK_RPM = 20
KEY, PROJECT = "key-chain", "chain"


@dataclass(frozen=True)
class Arrival:
    at: float  # simulated seconds after t0
    text: str


def arrivals(minutes: float, seed: int, per_min: float = 30.0, burst: int = 90, bursts: int = 4) -> list[Arrival]:
    """A Poisson background of `per_min` plus `bursts` bursts of `burst` prompts within ten seconds."""
    rng = random.Random(f"providers/{seed}")
    span = minutes * 60.0
    times: list[float] = []
    t = rng.expovariate(per_min / 60.0)
    while t < span:
        times.append(t)
        t += rng.expovariate(per_min / 60.0)
    for number in range(bursts):
        at = span * (number + 0.5) / bursts
        times += [at + rng.uniform(0, 10) for _ in range(burst)]
    return [Arrival(t, f"question {i} about the weather [[tokens=20]]") for i, t in enumerate(sorted(times))]


def chain_bound(times: list[float], t0: float, span: float) -> int:
    """How many arrivals, sent in order, the servers' windows admit before t0 + span (see module doc)."""
    minute_count: dict[tuple[str, int], int] = {}
    day_count = dict.fromkeys(GEMINI, 0)
    link_start, link_used = None, 0
    answered, last = 0, t0
    for offset in times:
        t = max(t0 + offset, last)
        while t < t0 + span:
            minute = int(t // 60)
            gemini = next(
                (
                    m
                    for m, (rpm, rpd) in GEMINI.items()
                    if minute_count.get((m, minute), 0) < rpm and day_count[m] < rpd
                ),
                None,
            )
            if gemini is not None:
                minute_count[(gemini, minute)] = minute_count.get((gemini, minute), 0) + 1
                day_count[gemini] += 1
                break
            if link_start is None or t >= link_start + 60:
                link_start, link_used = t, 0
            if link_used < LINK_RPM:
                link_used += 1
                break
            t = min((minute + 1) * 60.0, link_start + 60)
        if t >= t0 + span:
            break
        answered, last = answered + 1, t
    return answered


async def run(minutes: float = 60.0, seed: int = 1, epoch: float | None = None) -> dict:
    from gemtui.chat.router import use_route
    from gemtui.chat.sender import Finished, Request, Waiting, send
    from gemtui.emulator import Emulator, ManualClock
    from gemtui.gemini.client import make_client
    from gemtui.providers.gemini import GeminiProvider
    from gemtui.providers.openai_compat import OpenAICompatProvider
    from gemtui.providers.switchboard import Switchboard
    from gemtui.quota.engine import QuotaEngine
    from gemtui.turns import Turn
    from tests.clocks import SharedClock  # gemtui's clock on the emulator's: a wait jumps both

    t0 = epoch if epoch is not None else 1750064400.0  # 02:00 Pacific, 16 June 2025: one Pacific day
    manual = ManualClock(t0, running=False)
    emulator = Emulator(clock=manual, ttft_s=0.0, tokens_per_s=1e9, keys={KEY: PROJECT})
    emulator.start()
    emulator.set_openai_limits(requests=LINK_RPM, tokens=1_000_000, window_s=60)
    clock = SharedClock(manual)
    span = minutes * 60.0
    plan = arrivals(minutes, seed)
    linked = OpenAICompatProvider(KEY, emulator.openai_base_url, label=LINK_LABEL)
    board = Switchboard(GeminiProvider(make_client(KEY, emulator.base_url)), {LINK_LABEL: lambda: linked})
    use_route(["pro", "flash", "lite", LINK])
    answered_by: dict[str, int] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        engine = QuotaEngine(clock=clock, ledger_path=Path(tmp) / "ledger.sqlite3", tier="free")
        try:
            for arrival in plan:
                if arrival.at >= span or clock.now() >= t0 + span:
                    break
                if clock.now() < t0 + arrival.at:
                    manual.set(t0 + arrival.at)
                request = Request(turns=[Turn("user", arrival.text)], threshold_s=20.0)
                events = send(request, engine=engine, client=board, project=PROJECT)
                async with contextlib.aclosing(events):
                    async for event in events:
                        if isinstance(event, Waiting) and event.until >= t0 + span:
                            break  # nothing can answer before T: the rest stay queued
                        if isinstance(event, Finished):
                            answered_by[event.model] = answered_by.get(event.model, 0) + 1
        finally:
            engine.close()
            await linked.aclose()
            use_route(None)
    counters = emulator.counters().get(PROJECT, {})
    gemini_429 = sum(c.get("rejected_429", 0) for c in counters.values())
    link_429 = emulator.openai_counters()["refused_429"]
    emulator.stop()
    answered = sum(answered_by.values())
    bound = chain_bound([a.at for a in plan], t0, span)
    return {
        "minutes": minutes,
        "seed": seed,
        "arrivals": sum(1 for a in plan if a.at < span),
        "answered": answered,
        "bound": bound,
        "ratio": answered / bound if bound else None,
        "gemini_429": gemini_429,
        "link_429": link_429,
        "answered_by": answered_by,
        "wall_s": round(time.monotonic() - started, 1),
    }


def print_result(result: dict) -> None:
    print(
        f"\n## provider chain · Gemini free tier + an OpenAI-compatible link ({LINK_RPM} RPM by its headers) — "
        f"{result['arrivals']} arrivals in {result['minutes']:g} simulated min, seed {result['seed']}"
    )
    ratio = f"{result['ratio']:.3f}" if result["ratio"] is not None else "–"
    print(
        f"answered {result['answered']} · chain bound {result['bound']} · ratio {ratio} · "
        f"429s: Gemini {result['gemini_429']}, link {result['link_429']} · {result['wall_s']} s wall"
    )
    for model, count in sorted(result["answered_by"].items(), key=lambda kv: -kv[1]):
        print(f"  {model:26} {count}")
