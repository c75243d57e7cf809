"""Endpoint URLs: validated before any key is sent to them, and masked whenever shown.

A relay's URL often embeds an account token in its path or query, so only scheme and host are
ever displayed. Plain `http://` is accepted for loopback (the emulator, a local proxy) but refused
for any other host unless the user opts in, because the key would cross the network in clear.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gemtui.auth.errors import EndpointError

OFFICIAL_ENDPOINT = "https://generativelanguage.googleapis.com"
OFFICIAL_LABEL = "official API"


def is_loopback(host: str) -> bool:
    """localhost, *.localhost, 127.0.0.0/8 and ::1: traffic that never leaves this machine."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_endpoint(url: str | None) -> str:
    """`https://relay.example.com/…`: scheme and host only; path, query and credentials hidden."""
    if not url:
        return OFFICIAL_LABEL
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


def endpoint_secrets(url: str | None) -> tuple[str, ...]:
    """The parts of an endpoint that may carry an account token: credentials, path, query values.

    Servers echo them back (a 404 names the requested path), so text derived from a call through
    a relay must hide each of them, not just the whole URL. Longest first, so replacing in order
    never leaves a fragment of a longer piece behind.
    """
    if not url:
        return ()
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return (url,)
    pieces = {parts.username or "", parts.password or "", parts.query}
    path = parts.path.rstrip("/")
    if path:
        pieces.add(path)
    pieces.update(value for pair in parts.query.split("&") for value in pair.split("=", 1)[1:])
    return tuple(sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True))


def redact_endpoint(text: str, url: str | None) -> str:
    """Show `url` in `text` as scheme://host/… and cut its token-bearing parts out wherever they appear."""
    if not url:
        return text
    url = url.strip()
    masked = mask_endpoint(url)
    if masked != url:
        text = text.replace(url, masked).replace(url.rstrip("/"), masked)
    for piece in endpoint_secrets(url):
        text = text.replace(piece, "/…" if piece.startswith("/") else "…")
    return text


def validate_endpoint(url: str, *, allow_insecure_http: bool = False) -> str:
    """Return the URL without surrounding blanks or a trailing slash, or raise EndpointError.

    Error messages show the masked form only, since the rejected URL may still carry a token.
    """
    text = url.strip()
    shown = mask_endpoint(text)
    if not text:
        raise EndpointError("the endpoint URL is empty; leave it out to use the official API")
    if any(ch.isspace() for ch in text):
        raise EndpointError(f"the endpoint URL {shown} contains blanks")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise EndpointError(f"the endpoint URL {shown} is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise EndpointError(
            f"the endpoint URL has {what}; use https://host[/path] (or http:// for a local relay)"
        )
    if not host:
        raise EndpointError(f"the endpoint URL {shown} has no host name")
    if parts.fragment:
        raise EndpointError(f"the endpoint URL {shown} has a #fragment, which a base URL cannot use")
    if scheme == "http" and not is_loopback(host) and not allow_insecure_http:
        raise EndpointError(
            f"refusing {shown}: plain http:// to a host other than this machine would send the API key "
            "in clear; use https://, or confirm with --allow-insecure-http"
        )
    return text if parts.query else text.rstrip("/")
