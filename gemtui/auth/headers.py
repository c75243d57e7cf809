"""Custom request headers (`--header 'Name: value'`): parsed, checked, stored and shown masked.

Relays often authenticate by a header of their own (`X-Relay-Key: ...`, `Authorization: Bearer ...`),
so a header's value is a secret like the key: kept in the secret store with the profile's key,
never in the config file, and never shown (only the header's name is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from gemtui.auth.errors import ProfileError
from gemtui.errors import Hidden

Header = tuple[str, str]

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP field name (RFC 9110 token)
# Set by gemtui or the HTTP client itself; a second value would be ambiguous or break the request.
_RESERVED = frozenset(
    {
        "x-goog-api-key",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "user-agent",
        "x-goog-api-client",
    }
)


def parse_header(text: str) -> Header:
    """`"Name: value"` → (name, value), or ProfileError with a one-line reason (never the value)."""
    name, sep, value = (text or "").partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise ProfileError(f"a header is given as 'Name: value'; got {_shown_name(name)!r} without a colon")
    if not _TOKEN.match(name):
        raise ProfileError(f"bad header name {_shown_name(name)!r}: use letters, digits and - (no blanks)")
    if name.lower() in _RESERVED:
        raise ProfileError(f"the header {name!r} is set by gemtui itself and cannot be replaced")
    if not value:
        raise ProfileError(f"the header {name!r} has an empty value")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ProfileError(f"the value of header {name!r} contains control characters or line breaks")
    return name, value


def _shown_name(name: str) -> str:
    return name[:40]


def merge_headers(*groups: Iterable[Header]) -> tuple[Header, ...]:
    """Later groups win per name (case-insensitive): `--header` on the command line over the profile's."""
    merged: dict[str, Header] = {}
    for group in groups:
        for name, value in group:
            merged[name.lower()] = (name, value)
    return tuple(merged.values())


def encode_headers(headers: Iterable[Header]) -> str:
    return json.dumps([[name, value] for name, value in headers], separators=(",", ":"))


def decode_headers(text: str | None) -> tuple[Header, ...]:
    """The stored form back; an unreadable entry is an error, never silently dropped headers."""
    if not text:
        return ()
    try:
        data = json.loads(text)
        return tuple(parse_header(f"{name}: {value}") for name, value in data)
    except (ValueError, TypeError):
        raise ProfileError("the stored custom headers cannot be read; add the profile again") from None


def header_secrets(headers: Iterable[Header]) -> tuple[Hidden, ...]:
    """Header values for scrubbing, each replaced whole; the bearer token alone too (`Bearer X` → X)."""
    hidden: set[Hidden] = set()
    for _, value in headers:
        hidden.add(Hidden(value))
        scheme, _, token = value.partition(" ")
        if token.strip() and scheme.isalpha():
            hidden.add(Hidden(token.strip()))
    return tuple(h for h in hidden if len(h) >= 4)


def describe_headers(headers: Iterable[Header]) -> str:
    """`X-Relay-Key: …, Authorization: …` — names only."""
    return ", ".join(f"{name}: …" for name, _ in headers)
