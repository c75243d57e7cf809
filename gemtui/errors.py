"""Turning any exception into one line a user can read (no traceback, no secrets)."""

from __future__ import annotations

import re

# Google API keys, and long bearer-looking tokens in URLs, never reach the screen unmasked.
_KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_\-]{10,}")


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask anything that looks like a key, plus every known secret given."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask(secret))
    return _KEY_PATTERN.sub(lambda m: mask(m.group(0)), text)


def mask(secret: str) -> str:
    """`AIzaSyD…9xQk`: enough to tell keys apart, never enough to use one."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if secret else ""
    return f"{secret[:4]}…{secret[-4:]}"


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:297] + "..."
    return scrub(text, secrets)
