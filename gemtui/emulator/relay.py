"""Relay mode: the emulator behind a pretend gateway with a path prefix, a required header or query
token, and the gateway's own error pages (nginx/CDN HTML, plain text, its own JSON).

Real relays answer for themselves before a request reaches Gemini: a missing credential is an HTML
401, their rate limiter an HTML 429 with `Retry-After`, a dead upstream an HTML 502. This gate is a
small ASGI wrapper around the Gemini app so every route (models, generate, stream, countTokens)
passes through it; the admin routes (`/_emulator/...`) never do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from gemtui.emulator.faults import Fault

RELAY_FAULT_KINDS = ("relay_html_429", "relay_text_429", "relay_json_429", "relay_html_502", "relay_html_503")
ADMIN_PREFIX = "/_emulator/"


def _page(code: int, reason: str, echo: str = "") -> str:
    """An nginx error page; `echo` (a fault's) goes into its title and body, as a relay's template may."""
    title = f"{code} {reason} {echo}".rstrip()
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


HTML_TOO_MANY_REQUESTS = _page(429, "Too Many Requests")
HTML_UNAUTHORIZED = _page(401, "Authorization Required")
HTML_FORBIDDEN = _page(403, "Forbidden")
HTML_NOT_FOUND = _page(404, "Not Found")
HTML_BAD_GATEWAY = _page(502, "Bad Gateway")
HTML_SERVICE_UNAVAILABLE = _page(503, "Service Temporarily Unavailable")
TEXT_TOO_MANY_REQUESTS = "error code: 1015\nYou are being rate limited by the gateway. Slow down.\n"


@dataclass(frozen=True)
class RelayConfig:
    """What the pretend relay demands. Empty fields demand nothing."""

    prefix: str = ""
    header: tuple[str, str] | None = None  # (name, value) every request must carry
    query: dict[str, str] = field(default_factory=dict)  # query parameters every request must carry

    def describe(self) -> dict:
        return {
            "prefix": self.prefix,
            "header": self.header[0] if self.header else None,
            "query": sorted(self.query),
        }


def check_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip()
    if not prefix:
        return ""
    if not prefix.startswith("/") or "?" in prefix or "#" in prefix or " " in prefix:
        raise ValueError(f"relay prefix must be a path such as /relay/acc-TOKEN, got {prefix!r}")
    if prefix.startswith(ADMIN_PREFIX.rstrip("/")):
        raise ValueError("the relay prefix cannot hide the admin routes")
    return prefix.rstrip("/")


def parse_header(text: str) -> tuple[str, str]:
    """`"Name: value"` → (name, value)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value or any(ch.isspace() for ch in name):
        raise ValueError(f"relay header wants 'Name: value', got {text!r}")
    return name, value


def _model_and_stream(path: str) -> tuple[str | None, bool]:
    """The model a generate/stream path names, and whether it streams; (None, False) for other routes."""
    _, sep, rest = path.partition("/models/")
    if not sep:
        return None, False
    name, _, method = rest.partition(":")
    if method not in ("generateContent", "streamGenerateContent"):
        return None, False
    return name, method == "streamGenerateContent"


def fault_response(fault: Fault) -> tuple[int, str, str, list[tuple[str, str]]]:
    """(status, content type, body, extra headers) of a relay fault."""
    retry_after = [("retry-after", str(max(0, math.ceil(fault.seconds))))]
    echo = fault.echo
    if fault.kind == "relay_html_429":
        return 429, "text/html", _page(429, "Too Many Requests", echo), retry_after
    if fault.kind == "relay_text_429":
        text = TEXT_TOO_MANY_REQUESTS + (f"{echo}\n" if echo else "")
        return 429, "text/plain; charset=utf-8", text, retry_after
    if fault.kind == "relay_json_429":
        message = f"Too many requests to this gateway; slow down. {echo}".rstrip()
        body = {"error": "rate_limited", "message": message, "retry_after": max(0, math.ceil(fault.seconds))}
        return 429, "application/json", json.dumps(body), retry_after
    if fault.kind == "relay_html_503":
        return 503, "text/html", _page(503, "Service Temporarily Unavailable", echo), retry_after
    return 502, "text/html", _page(502, "Bad Gateway", echo), []


class RelayGate:
    """ASGI wrapper: relay checks and relay faults first, then the Gemini app with the prefix removed."""

    def __init__(self, app, state) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        relay: RelayConfig | None = self.state.relay
        path = scope["path"]
        if relay is not None:
            refusal = self._refusal(relay, scope)
            if refusal is not None:
                self.state.count_relay(refusal[0])
                await receive_all(receive)
                await _answer(send, *refusal)
                return
            path = path[len(relay.prefix) :] or "/"
            scope = dict(scope, path=path, raw_path=path.encode("latin-1"))
        model, streaming = _model_and_stream(path)
        if model is not None and scope.get("method") == "POST":
            fault = self.state.take_relay_fault(model, streaming)
            if fault is not None:
                status, ctype, body, headers = fault_response(fault)
                self.state.count_relay(status)
                await receive_all(receive)
                await _answer(send, status, ctype, body, headers)
                return
        if relay is not None:
            self.state.count_relay(0)
        await self.app(scope, receive, send)

    @staticmethod
    def _refusal(relay: RelayConfig, scope) -> tuple[int, str, str, list[tuple[str, str]]] | None:
        path = scope["path"]
        if relay.prefix and not (path == relay.prefix or path.startswith(relay.prefix + "/")):
            return 404, "text/html", HTML_NOT_FOUND, []
        if relay.header is not None:
            wanted_name, wanted_value = relay.header
            given = [
                v.decode("latin-1")
                for k, v in scope.get("headers", [])
                if k.decode("latin-1").lower() == wanted_name.lower()
            ]
            if given != [wanted_value]:
                return 401, "text/html", HTML_UNAUTHORIZED, [("www-authenticate", 'Bearer realm="relay"')]
        if relay.query:
            params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            for name, value in relay.query.items():
                if params.get(name) != [value]:
                    return 403, "text/html", HTML_FORBIDDEN, []
        return None


async def receive_all(receive) -> None:
    """Read the request body before answering, so the client is not cut off mid-upload."""
    while True:
        message = await receive()
        if message.get("type") != "http.request" or not message.get("more_body"):
            return


async def _answer(send, status: int, content_type: str, body: str, headers: list[tuple[str, str]]) -> None:
    data = body.encode("utf-8")
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(data)).encode()),
        (b"server", b"nginx"),
    ]
    raw += [(k.encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data, "more_body": False})
