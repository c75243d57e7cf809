"""A 20k-token answer streamed in small chunks: gemtui's conversation vs Textual's MarkdownStream alone.

Baseline: a bare app with one Markdown widget fed through `Markdown.get_stream`. Ours: the chat
screen's Conversation/MessageView path (anchored scroll view, label, stream) in the real GemtuiApp
layout. Both get the same chunks as fast as the stream accepts them; time until the last chunk is
rendered. While ours streams, a key is typed into the composer every 20 ms and the time until the
TextArea has it is recorded (target p99 < 50 ms). Target cost ratio: ≤ 1.2×.

    python benchmarks/bench_tui_stream.py [--tokens 20000] [--chunk-tokens 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("quota", "window", "ledger", "request", "minute", "token", "model", "engine", "stream", "limit",
         "reset", "pacific", "midnight", "gauge", "queue", "retry")


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
    return [text[i:i + size] for i in range(0, len(text), size)]


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


async def run_ours(pieces: list[str]) -> tuple[float, list[float]]:
    from gemtui.tui.app import GemtuiApp
    from gemtui.tui.screens.chat import ChatScreen

    app = GemtuiApp(None, clock_tick_s=1.0)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.screen, ChatScreen):
            await pilot.pause()
        screen = app.screen
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
        typing = asyncio.create_task(typist())
        view = await screen.conversation.add_message("model", "", "gemini-2.5-pro · writing…")
        for piece in pieces:
            await view.write(piece)
            await asyncio.sleep(0)  # a network read yields to the loop between chunks, as here
        await view.end_stream()
        await pilot.pause()
        elapsed = time.perf_counter() - start
        done.set()
        await typing
        return elapsed, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--chunk-tokens", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(Path(tmp) / var.lower())
    pieces = chunks(answer(args.tokens), args.chunk_tokens)
    bare, ours, lat = [], [], []
    for _ in range(args.runs):
        bare.append(asyncio.run(run_bare(pieces)))
        elapsed, latencies = asyncio.run(run_ours(pieces))
        ours.append(elapsed)
        lat.extend(latencies)
    b, o = statistics.median(bare), statistics.median(ours)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(f"{args.tokens} tokens in {len(pieces)} chunks of ~{args.chunk_tokens} tokens, {args.runs} runs")
    print(f"Textual MarkdownStream alone  median {b:6.2f} s")
    print(f"gemtui conversation           median {o:6.2f} s")
    print(f"ratio                         {o / b:.2f}x  (target <= 1.20x)")
    print(f"composer input latency while streaming: p50 {statistics.median(lat) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms over {len(lat)} keys  (target p99 < 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
