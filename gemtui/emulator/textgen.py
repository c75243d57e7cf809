"""Deterministic answers: Markdown-flavoured text seeded by the prompt, and small PNGs for the image model.

Same prompt + same seed -> same answer, so tests and benchmarks can assert on sizes; `[[tokens=N]]` in
the prompt asks for an answer of about N output tokens (counted by the emulator's own tokenizer).
"""

from __future__ import annotations

import hashlib
import random
import re
import struct
import zlib

from gemtui.emulator.tokenizer import count_text, token_spans

_PROSE = (
    "the a of to and in that is for it as with on by this be are from or an at which can not will its "
    "request window quota model token limit answer stream client server project minute day budget queue "
    "latency retry value state engine ledger signal gauge context message reply prompt cache buffer "
    "simple careful steady small large quick exact early late clear honest useful gentle fair "
    "counts tracks measures sends waits keeps returns shows books frees checks reads writes learns "
    "because while when after before until unless although so then also often rarely always never "
    "terminal session profile tier pacing schedule rhythm balance harvest river mountain garden lantern "
    "compass harbor meadow orchard signal beacon thread needle fabric pattern ribbon"
)
_WORDS = tuple(_PROSE.split())

_CODE_LINES = (
    "def {name}(items):",
    "    total = 0",
    "    for item in items:",
    "        total += len(item)",
    "    return total",
    "",
    "print({name}([\"alpha\", \"beta\", \"gamma\"]))",
)

_TOKENS_MARK = re.compile(r"\[\[tokens=(\d+)\]\]")


def seed_for(prompt: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def target_tokens(prompt: str, seed: int) -> int:
    """Asked-for length, else 40..400 tokens derived from the prompt."""
    mark = _TOKENS_MARK.search(prompt)
    if mark:
        return max(1, int(mark.group(1)))
    return 40 + seed_for(prompt, seed) % 361


def _sentence(rng: random.Random, budget: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
    text = ""
    for i in range(len(words)):
        candidate = " ".join(words[: i + 1])
        if i > 0 and count_text(candidate) + 1 > budget:  # +1 for the full stop
            break
        text = candidate
    return text[0].upper() + text[1:] + "."


def generate_text(prompt: str, seed: int) -> str:
    """A Markdown answer of about `target_tokens(prompt, seed)` tokens."""
    rng = random.Random(seed_for(prompt, seed))
    target = target_tokens(prompt, seed)
    blocks: list[str] = []
    used = 0

    def room() -> int:
        return target - used - (2 if blocks else 0)

    paragraph: list[str] = []
    while used < target:
        kind = rng.random()
        if blocks and paragraph == [] and kind < 0.2 and room() > 25:
            items = [f"- {_sentence(rng, 8)[:-1]}" for _ in range(rng.randint(3, 5))]
            block = "\n".join(items)
        elif blocks and paragraph == [] and kind < 0.32 and room() > 45:
            name = rng.choice(("measure", "tally", "count_words", "budget"))
            block = "```python\n" + "\n".join(line.format(name=name) for line in _CODE_LINES) + "\n```"
        else:
            paragraph = []
            in_paragraph = 0
            for _ in range(rng.randint(2, 5)):
                budget = target - used - in_paragraph
                if budget < 2:
                    break
                paragraph.append(_sentence(rng, budget))
                in_paragraph += count_text(paragraph[-1])
            block = " ".join(paragraph) or "Done."
            paragraph = []
        blocks.append(block)
        used += count_text(block)  # blocks are whitespace-separated, so their tokens simply add up
    return "\n\n".join(blocks)


def truncate(text: str, max_tokens: int) -> str:
    """The first `max_tokens` tokens of `text` (for maxOutputTokens)."""
    spans = token_spans(text)
    if len(spans) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    return text[: spans[max_tokens - 1][1]]


def split_chunks(text: str, rng_seed: int) -> list[str]:
    """Cuts `text` after every few (3..12) tokens; the pieces join back to `text` exactly."""
    rng = random.Random(rng_seed)
    spans = token_spans(text)
    pieces: list[str] = []
    start = 0
    i = 0
    while i < len(spans):
        i = min(len(spans), i + rng.randint(3, 12))
        end = spans[i - 1][1] if i < len(spans) else len(text)
        pieces.append(text[start:end])
        start = end
    if start < len(text) or not pieces:
        if pieces:
            pieces[-1] += text[start:]
        else:
            pieces.append(text)
    return pieces


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(prompt: str, seed: int, size: int = 32) -> bytes:
    """A valid size x size RGB PNG whose colours come from the prompt."""
    h = hashlib.sha256(f"png\x00{seed}\x00{prompt}".encode()).digest()
    a, b = h[0:3], h[3:6]
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 (None)
        for x in range(size):
            row += a if ((x // 4) + (y // 4)) % 2 == 0 else b
        rows.append(bytes(row))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _png_chunk(b"IEND", b""))
