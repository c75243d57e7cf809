"""The emulator's own tokenizer: deterministic, roughly one token per four characters of English.

It is deliberately not `len(text) / 4` nor any client-side estimate, so a client that only guesses token
counts will see the difference (and must trust `countTokens` / `usageMetadata`). The same spans drive
the quota, `countTokens`, `usageMetadata` and the cut points of streamed chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gemtui.emulator.media import image_tokens, pdf_tokens
from gemtui.emulator.request_log import decode_b64

# Letter runs, digit runs, or any single other non-space character.
_PIECE = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_", re.UNICODE)
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u3040-\u30ff]")


def _split_word(start: int, word: str) -> Iterable[tuple[int, int]]:
    if _WIDE.search(word):  # CJK: one token per character
        for i in range(len(word)):
            yield start + i, start + i + 1
        return
    if len(word) <= 6:
        yield start, start + len(word)
        return
    step = 5  # long words break into five-letter pieces ("international" -> 3 tokens)
    for i in range(0, len(word), step):
        yield start + i, start + min(len(word), i + step)


def token_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every token in `text`; whitespace belongs to no token."""
    spans: list[tuple[int, int]] = []
    for m in _PIECE.finditer(text):
        piece = m.group(0)
        if piece.isdigit():
            for i in range(0, len(piece), 3):  # digits go in threes
                spans.append((m.start() + i, m.start() + min(len(piece), i + 3)))
        elif piece[0].isalpha():
            spans.extend(_split_word(m.start(), piece))
        else:
            spans.append((m.start(), m.end()))
    return spans


def count_text(text: str) -> int:
    return len(token_spans(text))


def _content_parts(content: object) -> list[dict]:
    if isinstance(content, dict):
        parts = content.get("parts") or []
        return [p for p in parts if isinstance(p, dict)]
    return []


def count_contents(contents: list, system_instruction: object = None) -> tuple[int, int]:
    """(input tokens, inline images) over every text part of `contents` and the system instruction."""
    tokens = 0
    images = 0
    all_contents = list(contents or [])
    if system_instruction is not None:
        all_contents.append(system_instruction)
    for content in all_contents:
        for part in _content_parts(content):
            text = part.get("text")
            if isinstance(text, str):
                tokens += count_text(text)
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict):
                mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
                if mime.startswith("image/"):
                    images += 1
                    tokens += image_tokens(decode_b64(inline.get("data")), mime)
                elif mime == "application/pdf":
                    tokens += pdf_tokens(decode_b64(inline.get("data")))
    return tokens, images
