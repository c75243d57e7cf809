"""A 20k-token answer streamed in small chunks: gemtui's conversation vs Textual's MarkdownStream alone.

Baseline: a bare app with one Markdown widget fed through `Markdown.get_stream`. Ours: the chat
screen's Conversation/MessageView path (anchored scroll view, label, stream) in the real GemtuiApp
layout. Both get the same chunks as fast as the stream accepts them; time until the last chunk is
rendered (target ratio ≤ 1.2×). A third run streams through ours again while a key is typed into the
composer every 20 ms, and records the time until the TextArea has it (target p99 < 50 ms): the typing
is kept out of the cost runs, where the baseline has nothing like it. Every sample runs in a fresh
process (no heap, caches or frozen objects carried over) and the kinds alternate, so a slow spell of a
shared machine hits all of them.

    python benchmarks/bench_tui_stream.py [--runs 3] [--tokens 20000] [--chunk-tokens 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "quota",
    "window",
    "ledger",
    "request",
    "minute",
    "token",
    "model",
    "engine",
    "stream",
    "limit",
    "reset",
    "pacific",
    "midnight",
    "gauge",
    "queue",
    "retry",
)


def answer(tokens: int) -> str:
    """Markdown with headings, paragraphs, lists and code blocks; ~1 token per word."""
    parts, count, i = [], 0, 0
    while count < tokens:
        i += 1
        if i % 9 == 0:
            parts.append(f"\n## Section {i}\n\n")
            count += 3
        elif i % 7 == 0:
            parts.append("\n```python\n" + "\n".join(f"x{j} = {j} * {i}" for j in range(6)) + "\n```\n\n")
            count += 40
        elif i % 5 == 0:
            parts.append("".join(f"- {WORDS[(i + j) % 16]} item {j}\n" for j in range(5)) + "\n")
            count += 20
        else:
            words = [WORDS[(i * 7 + j) % 16] for j in range(60)]
            parts.append(" ".join(words) + ".\n\n")
            count += 60
    return "".join(parts)


def chunks(text: str, chunk_tokens: int) -> list[str]:
    size = chunk_tokens * 4  # ~4 characters a token
    return [text[i : i + size] for i in range(0, len(text), size)]


async def run_bare(pieces: list[str]) -> float:
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    class Bare(App):
        def compose(self):
            with VerticalScroll():
                yield Markdown()

    app = Bare()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        md = app.query_one(Markdown)
        app.query_one(VerticalScroll).anchor()
        start = time.perf_counter()
        stream = Markdown.get_stream(md)
        for piece in pieces:
            await stream.write(piece)
        await stream.stop()
        await pilot.pause()
        return time.perf_counter() - start


async def run_ours(pieces: list[str], typing: bool) -> tuple[float, list[float]]:
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.chat import ChatScreen

    app = GemtuiApp(None, clock_tick_s=1.0)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.screen, ChatScreen):
            await pilot.pause()
        screen = app.screen
        # An answer streams after a request went out, long after start-up's background work (SDK and
        # Markdown imports in a thread, the first heap settle) is done: start from there.
        await app.settled.wait()
        await pilot.pause()
        area = screen.composer.area
        area.focus()
        done = asyncio.Event()

        async def typist() -> None:
            from textual import events

            while not done.is_set():
                before = len(area.text)
                t0 = time.perf_counter()
                area.post_message(events.Key("a", "a"))
                # Wait for this key even after the stream ended, so no key is left in flight when the
                # app shuts down (it would land on a half-removed composer).
                while len(area.text) == before and time.perf_counter() - t0 < 10:
                    await asyncio.sleep(0.0005)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)

        start = time.perf_counter()
        typing_task = asyncio.create_task(typist()) if typing else None
        view = await screen.conversation.add_message("model", "", "gemini-2.5-pro · writing…")
        for piece in pieces:
            await view.write(piece)
            await asyncio.sleep(0)  # a network read yields to the loop between chunks, as here
        await view.end_stream()
        await pilot.pause()
        elapsed = time.perf_counter() - start
        done.set()
        if typing_task is not None:
            await typing_task
        return elapsed, latencies


def child(kind: str, tokens: int, chunk_tokens: int) -> int:
    """One sample in this fresh process; prints a JSON line."""
    tmp = tempfile.mkdtemp()
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(Path(tmp) / var.lower())
    pieces = chunks(answer(tokens), chunk_tokens)
    cpu0 = time.process_time()
    if kind == "bare":
        elapsed, latencies = asyncio.run(run_bare(pieces)), []
    else:
        elapsed, latencies = asyncio.run(run_ours(pieces, typing=kind == "typing"))
    print(
        json.dumps(
            {
                "kind": kind,
                "elapsed": elapsed,
                "cpu": time.process_time() - cpu0,
                "latencies": latencies,
                "chunks": len(pieces),
            }
        )
    )
    return 0


def sample(kind: str, args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--tokens",
            str(args.tokens),
            "--chunk-tokens",
            str(args.chunk_tokens),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--chunk-tokens", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=("bare", "ours", "typing"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.tokens, args.chunk_tokens)
    results: dict[str, list[dict]] = {"bare": [], "ours": [], "typing": []}
    for _ in range(args.runs):  # interleaved, so a slow spell of the machine hits every kind
        for kind in results:
            results[kind].append(sample(kind, args))
    bare_s = [r["elapsed"] for r in results["bare"]]
    ours_s = [r["elapsed"] for r in results["ours"]]
    bare_cpu = [r["cpu"] for r in results["bare"]]
    ours_cpu = [r["cpu"] for r in results["ours"]]
    b, o = statistics.median(bare_s), statistics.median(ours_s)
    paired = sorted(x / y for x, y in zip(ours_s, bare_s, strict=True))
    lat = sorted(v for r in results["typing"] for v in r["latencies"])
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    per_run = ", ".join(f"{percentile(r['latencies'], 0.99) * 1000:.1f}" for r in results["typing"])
    chunks_n = results["bare"][0]["chunks"]
    print(
        f"{args.tokens} tokens in {chunks_n} chunks of ~{args.chunk_tokens} tokens, {args.runs} runs of each, "
        "each in a fresh process"
    )
    print(f"Textual MarkdownStream alone  median {b:6.2f} s   (runs: {fmt(bare_s)}; CPU {fmt(bare_cpu)})")
    print(f"gemtui conversation           median {o:6.2f} s   (runs: {fmt(ours_s)}; CPU {fmt(ours_cpu)})")
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(bare_cpu)
    print(
        f"ratio                         {o / b:.2f}x  (target <= 1.20x; run by run: "
        f"{', '.join(f'{r:.2f}' for r in paired)}; CPU {cpu_ratio:.2f}x)"
    )
    print(
        f"composer input latency while streaming: p50 {statistics.median(lat) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms over {len(lat)} keys  (target p99 < 50 ms; run by run p99: {per_run})"
    )
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
