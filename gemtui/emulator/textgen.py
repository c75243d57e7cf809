"""Deterministic answers: a Markdown tour of gemtui seeded by the prompt, and small PNGs for the image model.

Same prompt + same seed -> same answer, so tests and benchmarks can assert on sizes; `[[tokens=N]]` in
the prompt asks for an answer of about N output tokens (counted by the emulator's own tokenizer).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import struct
import zlib
from collections.abc import Iterator

from gemtui.emulator import tour
from gemtui.emulator.tokenizer import count_text, token_spans

_TOKENS_MARK = re.compile(r"\[\[tokens=(\d+)\]\]")
_SHORTEST_PARAGRAPH = 12  # tokens: less than this left over goes at the end of the paragraph before


def seed_for(prompt: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def target_tokens(prompt: str, seed: int) -> int:
    """Asked-for length, else 40..400 tokens derived from the prompt."""
    mark = _TOKENS_MARK.search(prompt)
    if mark:
        return max(1, int(mark.group(1)))
    return 40 + seed_for(prompt, seed) % 361


def _fit(sentence: str, budget: int) -> str:
    """`sentence` whole if it fits in `budget` tokens, else its first words and an ellipsis."""
    if count_text(sentence) <= budget:
        return sentence
    words = sentence.rstrip(".").split()
    text = words[0]
    for i in range(1, len(words)):
        candidate = " ".join(words[: i + 1])
        if count_text(candidate) + 1 > budget:  # +1 for the ellipsis
            break
        text = candidate
    return text + "…"


def _cycle(pool: tuple[str, ...], rng: random.Random) -> Iterator[str]:
    """The pool in a seeded order, round and round: long answers repeat it, short ones differ."""
    order = list(pool)
    rng.shuffle(order)
    return itertools.cycle(order)


def _paragraph(rng: random.Random, sentences: Iterator[str], left: int, first: bool) -> str:
    """One to three sentences within `left` tokens; a tail too short for a paragraph of its own joins this one."""
    fitted = [_fit(rng.choice(tour.OPENERS), max(left, 1))] if first else []
    left -= sum(count_text(s) for s in fitted)
    wanted = rng.randint(1, 3)
    while left > 0 and (len(fitted) < wanted or left < _SHORTEST_PARAGRAPH):
        sentence = next(sentences)
        fitted.append(_fit(sentence, left))
        left -= count_text(fitted[-1])
        if fitted[-1] != sentence:  # a cut sentence ends the answer
            break
    return " ".join(fitted) or _fit(next(sentences), max(left, 1))


def generate_text(prompt: str, seed: int) -> str:
    """A Markdown tour of gemtui (see tour) of about `target_tokens(prompt, seed)` tokens (one fewer at most)."""
    rng = random.Random(seed_for(prompt, seed))
    target = target_tokens(prompt, seed)
    sentences, lists, code = _cycle(tour.SENTENCES, rng), _cycle(tour.LISTS, rng), _cycle(tour.CODE_BLOCKS, rng)
    blocks: list[str] = []
    used = 0
    while used < target - 1 or not blocks:  # a last word cut for one token would read as noise
        room = target - used
        kind = rng.random()
        block = ""
        if blocks and kind < 0.2:
            block = next(lists)
        elif blocks and kind < 0.32:
            block = next(code)
        after = room - count_text(block)
        if not block or after < 0 or 1 < after < _SHORTEST_PARAGRAPH:  # whole, and no scrap left after
            block = _paragraph(rng, sentences, target - used, first=not blocks)
        blocks.append(block)
        used += count_text(block)  # blocks are whitespace-separated, so their tokens simply add up
        if block.endswith("…"):  # a sentence was cut to fit: that is the end
            break
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
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _png_chunk(b"IEND", b"")
    )
