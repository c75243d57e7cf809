"""What reached the wire: per request, the kind of each part and a digest of each inline payload.

Tests read it (`Emulator.requests()`, `GET /__admin/requests`) to prove that an attached file, an image
or piped stdin was really sent, and sent once, without trusting anything the client says about itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import deque

KEEP = 500  # the newest requests; a long benchmark never grows the emulator without bound


def decode_b64(value: object) -> bytes:
    """Inline data as sent: standard or URL-safe base64 (the SDK sends the URL-safe alphabet), padding
    optional; undecodable data reads as no bytes."""
    text = str(value or "").strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def _part(part: dict) -> dict:
    if isinstance(part.get("text"), str):
        text = part["text"]
        return {"kind": "text", "chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    inline = part.get("inlineData") or part.get("inline_data")
    if isinstance(inline, dict):
        mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
        data = decode_b64(inline.get("data"))
        return {"kind": f"inline:{mime}", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {"kind": "other"}


def describe(method: str, model: str, body: dict) -> dict:
    """One request as the log keeps it: method, model, and each content's role and parts."""
    contents = body.get("contents")
    if not isinstance(contents, list):
        inner = body.get("generateContentRequest") or body.get("generate_content_request") or {}
        contents = inner.get("contents") if isinstance(inner, dict) else None
    described = []
    for content in contents if isinstance(contents, list) else []:
        if isinstance(content, dict):
            parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
            described.append({"role": content.get("role") or "user", "parts": [_part(p) for p in parts]})
    return {"method": method, "model": model, "contents": described}


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[dict] = deque(maxlen=KEEP)

    def add(self, entry: dict) -> None:
        self._entries.append(entry)

    def entries(self) -> list[dict]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()
