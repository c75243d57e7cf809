"""Every way a call can fail, mapped to one typed outcome with a one-line message and an exit status.

SDK errors (`APIError`: ClientError 4xx, ServerError 5xx) carry the parsed body; transport errors
from httpx2/httpx are not APIError and are recognised by class. Messages never contain the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gemtui import exitcodes
from gemtui.errors import one_line, scrub
from gemtui.gemini.ratelimit import error_object, parse_quota_hit
from gemtui.quota.signals import QuotaHit

FailureKind = Literal[
    "rate_limited",   # 429 with quota details: the engine learns from `hit`
    "capacity",       # 429 without details: back off, no quota evidence
    "auth",           # bad / missing / forbidden key
    "not_found",      # unknown model or wrong path
    "bad_request",    # the request itself is wrong; retrying cannot help
    "server",         # 500 and other 5xx
    "overloaded",     # 503 UNAVAILABLE
    "not_gemini",     # the endpoint answered with something that is not the Gemini API (an HTML page)
    "unreachable",    # connection refused, DNS, TLS, timeout before an answer
    "stream_cut",     # the answer stream broke after it started
    "unknown",
]

# An unreachable endpoint (refused, DNS, TLS) is not retried: a dead relay stays dead, and the user
# should hear it at once. A timeout is different: it is classified as "server" and retried.
_TRANSIENT: frozenset[str] = frozenset({"capacity", "server", "overloaded", "stream_cut"})

_EXIT = {
    "rate_limited": exitcodes.EXIT_QUOTA,
    "capacity": exitcodes.EXIT_QUOTA,
    "auth": exitcodes.EXIT_AUTH,
    "not_found": exitcodes.EXIT_NOT_FOUND,
    "bad_request": exitcodes.EXIT_USAGE,
    "server": exitcodes.EXIT_SERVER,
    "overloaded": exitcodes.EXIT_SERVER,
    "not_gemini": exitcodes.EXIT_UNREACHABLE,
    "unreachable": exitcodes.EXIT_UNREACHABLE,
    "stream_cut": exitcodes.EXIT_SERVER,
    "unknown": exitcodes.EXIT_ERROR,
}


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    hit: QuotaHit | None = None

    @property
    def exit_code(self) -> int:
        return _EXIT[self.kind]

    @property
    def transient(self) -> bool:
        """Worth retrying after a pause (quota 429s are handled by the engine, not here)."""
        return self.kind in _TRANSIENT

    def __str__(self) -> str:
        return self.message


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype") or head.startswith("<html") or "<body" in head or "<head" in head


def _html_title(text: str) -> str:
    lower = text.lower()
    start, end = lower.find("<title>"), lower.find("</title>")
    if 0 <= start < end:
        return " ".join(text[start + 7 : end].split())[:80]
    return ""


def _api_failure(exc: Any, secrets: tuple[str, ...]) -> Failure:
    code = int(getattr(exc, "code", 0) or 0)
    body = getattr(exc, "details", None)
    error = error_object(body)
    status = str(getattr(exc, "status", None) or error.get("status") or "")
    raw_message = str(getattr(exc, "message", None) or error.get("message") or "")
    if _looks_like_html(raw_message):
        title = _html_title(raw_message)
        detail = f" ({title})" if title else ""
        return Failure(
            "not_gemini",
            f"the endpoint answered HTTP {code} with an HTML page{detail}, not the Gemini API; "
            "check the relay URL or try again later",
            code,
        )
    message = scrub(" ".join(raw_message.split()), secrets)
    if len(message) > 240:
        message = message[:237] + "..."
    if code == 429:
        hit = parse_quota_hit(body)
        if hit.is_bare:
            return Failure("capacity", f"the service is out of capacity (429, no quota named): {message}", code, hit)
        names = ", ".join(sorted({v.dimension.upper() for v in hit.violations}))
        return Failure("rate_limited", f"rate limited by the server ({names}): {message}", code, hit)
    if code in (401, 403) or (code == 400 and "api key" in message.lower()):
        return Failure("auth", f"the API key was refused ({code} {status}): {message}", code)
    if code == 404:
        return Failure("not_found", f"not found (404): {message}", code)
    if code == 503:
        return Failure("overloaded", f"the service is overloaded (503): {message}", code)
    if code >= 500:
        return Failure("server", f"server error ({code} {status}): {message}", code)
    if 400 <= code < 500:
        return Failure("bad_request", f"request refused ({code} {status}): {message}", code)
    return Failure("unknown", f"unexpected answer ({code} {status}): {message}", code)


_CUT = ("RemoteProtocolError", "ReadError", "ClientPayloadError", "ServerDisconnectedError", "IncompleteRead")
_UNREACHABLE = ("ConnectError", "ConnectTimeout", "ClientConnectorError", "ProxyError", "UnsupportedProtocol")
_TIMEOUT = ("ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "TimeoutError")


def classify(exc: BaseException, *, secrets: tuple[str, ...] = (), streaming_started: bool = False) -> Failure:
    """Map any exception from a Gemini call to a Failure. `streaming_started`: chunks had arrived."""
    from_sdk = type(exc).__module__.startswith("google.genai")
    if from_sdk and hasattr(exc, "code") and hasattr(exc, "details"):
        return _api_failure(exc, secrets)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_CUT) or (streaming_started and names & set(_TIMEOUT)):
        return Failure("stream_cut", "the answer stream was cut before it finished; the partial answer is kept")
    if names & set(_TIMEOUT):
        return Failure("server", "the endpoint did not answer in time")
    if names & set(_UNREACHABLE) or isinstance(exc, ConnectionError | OSError):
        return Failure("unreachable", f"cannot reach the endpoint: {one_line(exc, secrets)}")
    if type(exc).__name__ == "JSONDecodeError" or isinstance(exc, ValueError) and "json" in str(exc).lower():
        return Failure("not_gemini", "the endpoint's answer is not Gemini API JSON; check the relay URL")
    return Failure("unknown", one_line(exc, secrets))
