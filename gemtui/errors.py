"""Turning any exception into one line a user can read (no traceback, no secrets).

Two kinds of secret: an API key is masked (`AIza…9xQk`, enough to tell keys apart), while the parts
of a relay that can carry an account token (a URL's path, query values, credentials; custom header
values) are `Hidden`: replaced whole, so not one character of them is ever shown. URLs are shown as
scheme, host and port only (`mask_url`), the one form every screen, message and file uses.
"""

from __future__ import annotations

import base64
import functools
import math
import re
import threading
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

# Google API keys, and long bearer-looking tokens in URLs, never reach the screen unmasked.
_KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_\-]{10,}")
ELLIPSIS = "…"


class Hidden(str):
    """A secret replaced whole by `shown` wherever it appears (default "…"), never partly masked.

    `whole` (for a URL path such as `/gemini`): only where it is not followed by a letter, digit or
    `-`, so the endpoint's path is hidden but `models/gemini-2.5-flash` is left readable.
    """

    shown: str
    whole: bool

    def __new__(cls, value: str, shown: str = ELLIPSIS, whole: bool = False) -> Hidden:
        obj = super().__new__(cls, value)
        obj.shown = shown
        obj.whole = whole
        return obj


_registry: dict[str, str] = {}
_registry_lock = threading.Lock()


def register_secrets(*secrets: str | None) -> None:
    """Remember strings this process must never show, write or store unmasked (keys, header values,
    token-bearing URL parts, proxy credentials). `scrub` hides them everywhere from then on. A `Hidden`
    form of a value wins over a plain one (hidden whole rather than partly masked)."""
    with _registry_lock:
        for secret in secrets:
            if not secret or len(secret) < 4:
                continue
            known = _registry.get(str(secret))
            if known is None or (isinstance(secret, Hidden) and not isinstance(known, Hidden)):
                _registry[str(secret)] = secret


def known_secrets() -> tuple[str, ...]:
    """The registered secrets, longest first (a secret containing another is masked whole)."""
    with _registry_lock:
        return tuple(sorted(_registry.values(), key=len, reverse=True))


def forget_secrets() -> None:
    """Empty the registry (tests that start a new "process")."""
    with _registry_lock:
        _registry.clear()


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """THE mask at the boundary: every string from a server, a relay or an exception passes here before
    it reaches the screen, a file, a store or the log. Hides every secret given plus every secret the
    process registered (longest first, so a secret that contains another is replaced whole), in the
    forms a server may echo it (as sent, percent-decoded, in base64), and masks anything that looks like
    a Google key."""
    given = {str(s): s for s in secrets if s and len(s) >= 4}
    for secret in known_secrets():
        given.setdefault(str(secret), secret)
    for secret in sorted(given.values(), key=len, reverse=True):
        if isinstance(secret, Hidden) and secret.whole:
            text = re.sub(re.escape(secret) + r"(?![A-Za-z0-9-])", lambda _m, s=secret: s.shown, text)
        else:
            text = text.replace(secret, secret.shown if isinstance(secret, Hidden) else mask(secret))
        for form in _echoed_forms(str(secret)):
            if form in text:
                text = text.replace(form, ELLIPSIS)  # an encoded form is hidden whole: no part of it helps
    return _KEY_PATTERN.sub(lambda m: mask(m.group(0)), text)


MIN_ECHO_FORM = 8  # shorter encoded runs would mask ordinary words


@functools.lru_cache(maxsize=512)
def _echoed_forms(secret: str) -> tuple[str, ...]:
    """`secret` as servers echo what they were sent: percent-decoded or -encoded (a URL's path or query),
    and in base64 (a Basic or Bearer header, a token passed on) at each of the three byte alignments it
    may sit at inside a longer encoded value, keeping only the characters that come from its own bytes."""
    texts = {secret, unquote(secret), unquote_plus(secret)}
    forms = texts | {quote(secret, safe=""), quote_plus(secret)}
    for text in texts:
        raw = text.encode("utf-8", "surrogatepass")
        for pad in range(3):
            first, last = math.ceil(8 * pad / 6), (8 * pad + 8 * len(raw)) // 6
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms.add(encode(b"\0" * pad + raw).decode("ascii")[first:last])
    forms.discard(secret)
    return tuple(sorted((f for f in forms if len(f) >= MIN_ECHO_FORM), key=len, reverse=True))


def mask(secret: str) -> str:
    """`AIzaSyD…9xQk`: enough to tell keys apart, never enough to use one."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if secret else ""
    return f"{secret[:4]}…{secret[-4:]}"


def mask_url(url: str) -> str:
    """`https://relay.example.com:8443/…`: scheme, host and port only; everything after the host
    (credentials, path, query, fragment) is one ellipsis, since any of it may carry a token."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    if not parts.scheme or not host:
        return "(invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    hidden = parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment
    return shown + ("/…" if hidden else "")


def url_secrets(url: str | None) -> tuple[Hidden, ...]:
    """Every part of `url` after its host that could carry a token, each `Hidden`, plus the whole
    URL shown masked. Servers echo these back (a 404 names the requested path, a proxy error the
    proxy URL), so text derived from a call must hide each of them, not just the whole URL."""
    if not url:
        return ()
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return (Hidden(url, "(invalid URL)"),)
    pieces: set[Hidden] = set()
    masked = mask_url(url)
    if masked != url:
        pieces.add(Hidden(url, masked))
        pieces.add(Hidden(url.rstrip("/"), masked))
        base = url.split("?", 1)[0].rstrip("/")
        if base != url:
            pieces.add(Hidden(base, masked))
    for value in (parts.username, parts.password, parts.query, parts.fragment):
        if value:
            pieces.add(Hidden(value))
    path = parts.path.rstrip("/")
    if path:
        pieces.add(Hidden(path, "/…", whole=True))
        pieces.update(Hidden(seg) for seg in path.split("/") if _token_like(seg))
    for pair in parts.query.split("&"):
        _, sep, value = pair.partition("=")
        if sep and value:
            pieces.add(Hidden(value))
    return tuple(sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True))


_PLAIN_SEGMENTS = frozenset(
    {
        "v1",
        "v1beta",
        "v1alpha",
        "api",
        "apis",
        "gemini",
        "google",
        "models",
        "proxy",
        "relay",
        "openai",
        "gateway",
        "generativelanguage",
    }
)


def _token_like(segment: str) -> bool:
    """A path segment that may be an account token on its own (a server may echo just that segment)."""
    if len(segment) < 6 or segment.lower() in _PLAIN_SEGMENTS:
        return False
    return any(ch.isdigit() or ch.isupper() for ch in segment) or len(segment) >= 12


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """An exception as one scrubbed line; scrubbed before it is cut, so no half secret survives the cut."""
    text = str(exc).strip() or type(exc).__name__
    text = scrub(" ".join(text.split()), secrets)
    if len(text) > 300:
        text = text[:297] + "..."
    return text
