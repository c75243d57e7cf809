"""Endpoint URLs: validated before any key is sent to them, and masked whenever shown.

A relay's URL often embeds an account token in its path or query, so only scheme, host and port
are ever displayed; the query is kept and sent on every request. Plain `http://` is accepted for
loopback (the emulator, a local proxy) but refused for any other host unless the user opts in,
because the key would cross the network in clear. A proxy URL is checked here too.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gemtui.auth.errors import EndpointError
from gemtui.errors import Hidden, mask_url, scrub, url_secrets

OFFICIAL_ENDPOINT = "https://generativelanguage.googleapis.com"
OFFICIAL_LABEL = "official API"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name `localhost` itself: traffic that never leaves this machine.

    Nothing else counts, because "local" lets the key go over plain http: not `*.localhost` (a name a
    resolver may send anywhere), not `0.0.0.0`, not an IPv4-mapped `::ffff:127.0.0.1`, not names that
    merely start with a loopback address (`127.0.0.1.nip.io`, `localhost.evil.com`).
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback and not (address.version == 6 and address.ipv4_mapped is not None)


def mask_endpoint(url: str | None) -> str:
    """`https://relay.example.com/…`: scheme, host and port only (`gemtui.errors.mask_url`)."""
    return mask_url(url) if url else OFFICIAL_LABEL


def endpoint_secrets(url: str | None) -> tuple[Hidden, ...]:
    """The parts of an endpoint that may carry an account token (credentials, path, query values),
    each replaced whole when scrubbed (see `gemtui.errors.url_secrets`)."""
    return url_secrets(url)


def redact_endpoint(text: str, url: str | None) -> str:
    """Show `url` in `text` as scheme://host/… and cut its token-bearing parts out wherever they appear."""
    return scrub(text, endpoint_secrets(url)) if url else text


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
        raise EndpointError(f"the endpoint URL has {what}; use https://host[/path] (or http:// for a local relay)")
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


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def validate_proxy(url: str) -> str:
    """A proxy URL (`http://[user:pass@]host:port`), or EndpointError; messages show it masked."""
    text = url.strip()
    shown = mask_url(text) if text else "(empty)"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise EndpointError(f"the proxy URL {shown} is malformed ({exc})") from None
    if parts.scheme.lower() not in PROXY_SCHEMES or not host:
        raise EndpointError(
            f"the proxy URL {shown} is not usable; give scheme://host:port with scheme {', '.join(PROXY_SCHEMES)}"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise EndpointError(f"the proxy URL {shown} has a path or query; give only scheme://[user:pass@]host:port")
    return text.rstrip("/")


def mask_proxy(proxy: str | None) -> str:
    """`http://proxy.example:3128/…` (credentials hidden), or "none"."""
    return mask_url(proxy) if proxy else "none"
