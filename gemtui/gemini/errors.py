"""Every way a call can fail, mapped to one typed outcome with a one-line message (the CLI maps the
outcome's kind to an exit status in gemtui/exitcodes.py).

SDK errors (`APIError`: ClientError 4xx, ServerError 5xx) carry the parsed body and the HTTP
response (its headers give `Retry-After`); transport errors from httpx2/httpx are not APIError and
are recognised by class. Messages never contain the key, and show an endpoint as scheme://host/…

A relay answers for itself before Gemini does, in its own format: an nginx/CDN HTML page, plain
text, or JSON that is not Google's envelope. Such an answer is classified by its status like
Google's would be (429 = a rate limit with no quota evidence, 401/403 = the relay refused our
credentials, 5xx = transient), and names the relay rather than the key. Only an answer of another
status that is not Gemini JSON means "this is not the Gemini API".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from gemtui.errors import mask_url, one_line, scrub
from gemtui.gemini.ratelimit import error_object, parse_quota_hit, parse_retry_after
from gemtui.quota.signals import QuotaHit

FailureKind = Literal[
    "rate_limited",  # 429 with quota details: the engine learns from `hit`
    "capacity",  # 429 without details: back off, no quota evidence
    "auth",  # bad / missing / forbidden key
    "not_found",  # unknown model or wrong path
    "bad_request",  # the request itself is wrong; retrying cannot help
    "server",  # 500 and other 5xx
    "overloaded",  # 503 UNAVAILABLE
    "not_gemini",  # the endpoint answered with something that is not the Gemini API (an HTML page)
    "unreachable",  # connection refused, DNS, TLS, proxy failure, connect timeout
    "stream_cut",  # the answer stream broke after it started
    "unknown",
]

# An unreachable endpoint (refused, DNS, TLS, a dead proxy, a connect timeout) is not retried: a dead
# relay stays dead, and the user should hear it at once. A read timeout (connected, no answer) is
# different: it is classified as "server" and retried.
_TRANSIENT: frozenset[str] = frozenset({"capacity", "server", "overloaded", "stream_cut"})


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    hit: QuotaHit | None = None
    retry_after_s: float | None = None  # what the server asked for (Retry-After / RetryInfo), if anything

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
        return text[start + 7 : end]  # whole: cut only after scrubbing, so no half secret survives
    return ""


def _headers(exc: Any) -> dict[str, str]:
    """The HTTP response's headers, lower-cased (httpx Response or the SDK's own wrapper)."""
    raw = getattr(getattr(exc, "response", None), "headers", None)
    try:
        return {str(k).lower(): str(v) for k, v in raw.items()} if raw is not None else {}
    except Exception:  # an unexpected header container: no headers is a safe answer
        return {}


def _request_url(exc: Any) -> str | None:
    """The URL the failed request went to, when the transport recorded it."""
    for holder in (getattr(exc, "response", None), exc):
        try:
            request = getattr(holder, "request", None)
        except RuntimeError:  # httpx: "The .request property has not been set."
            request = None
        url = getattr(request, "url", None)
        if url is not None:
            return str(url)
    return None


def _where(exc: Any) -> str:
    """`the relay https://relay.example/…` (or `the endpoint …` for Google's own host)."""
    url = _request_url(exc)
    if not url:
        return "the endpoint"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    shown = mask_url(url)
    return f"the endpoint {shown}" if host.endswith("googleapis.com") else f"the relay {shown}"


def _retry_after(exc: Any, body: Any) -> float | None:
    headers = _headers(exc)
    delay = parse_retry_after(headers.get("retry-after"), headers.get("date"))
    if delay is None and isinstance(body, dict):  # a relay's own JSON may say it in the body
        for name in ("retry_after", "retryAfter", "retry-after"):
            if name in body:
                delay = parse_retry_after(body[name])
                break
    return delay


def _is_google_envelope(body: Any) -> bool:
    """Google's errors are `{"error": {"code", "message", "status", ...}}`; a relay's own are not."""
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _printable(text: str) -> str:
    """Drop control characters (ANSI escapes included) a foreign page may carry to a terminal."""
    return "".join(ch for ch in text if ch.isprintable() or ch == " ")


def _foreign_summary(raw_message: str, body: Any, secrets: tuple[str, ...]) -> str:
    """A few words for what a relay answered: the HTML page's title, or its text (or JSON) on one line."""
    if _looks_like_html(raw_message):
        title = scrub(_printable(" ".join(_html_title(raw_message).split())), secrets)
        title = (title[:77] + "...") if len(title) > 80 else title
        return f"an HTML page: {title}" if title else "an HTML page"
    text = raw_message
    if not text.strip() and isinstance(body, dict):
        text = " ".join(f"{k}={v}" for k, v in body.items() if isinstance(v, str | int | float))
    text = scrub(_printable(" ".join(text.split())), secrets)
    return (text[:117] + "...") if len(text) > 120 else text or "an empty body"


def _relay_failure(exc: Any, code: int, raw_message: str, body: Any, secrets: tuple[str, ...]) -> Failure:
    """An answer that is not Google's envelope: the relay (or a CDN, a proxy) spoke for itself."""
    where = _where(exc)
    what = _foreign_summary(raw_message, body, secrets)
    delay = _retry_after(exc, body)
    if code == 429:
        wait = f"; it asks to wait {delay:g} s" if delay is not None else ""
        return Failure(
            "capacity",
            f"{where} is rate limiting requests (429, {what}){wait}",
            code,
            QuotaHit(violations=(), retry_delay_s=delay),
            delay,
        )
    if code in (401, 403, 407):
        return Failure(
            "auth",
            f"{where} refused the request ({code}, {what}): check the relay's own "
            "credentials (a --header, or the token in the endpoint URL)",
            code,
        )
    if code == 503:
        return Failure("overloaded", f"{where} is unavailable (503, {what})", code, None, delay)
    if code >= 500:
        return Failure("server", f"{where} failed ({code}, {what})", code, None, delay)
    return Failure(
        "not_gemini",
        f"{where} answered HTTP {code} with {what}, not the Gemini API; check the relay URL",
        code,
    )


def _api_failure(exc: Any, secrets: tuple[str, ...]) -> Failure:
    code = int(getattr(exc, "code", 0) or 0)
    body = getattr(exc, "details", None)
    raw_message = str(getattr(exc, "message", None) or "")
    if not _is_google_envelope(body) or _looks_like_html(raw_message):
        return _relay_failure(exc, code, raw_message, body, secrets)
    error = error_object(body)
    status = str(getattr(exc, "status", None) or error.get("status") or "")
    raw_message = raw_message or str(error.get("message") or "")
    message = scrub(" ".join(raw_message.split()), secrets)
    if len(message) > 240:
        message = message[:237] + "..."
    delay = _retry_after(exc, None)
    if code == 429:
        hit = parse_quota_hit(body)
        if hit.retry_delay_s is None and delay is not None:
            hit = QuotaHit(violations=hit.violations, retry_delay_s=delay)
        if hit.is_bare:
            return Failure(
                "capacity",
                f"the service is out of capacity (429, no quota named): {message}",
                code,
                hit,
                hit.retry_delay_s,
            )
        names = ", ".join(sorted({v.dimension.upper() for v in hit.violations}))
        return Failure("rate_limited", f"rate limited by the server ({names}): {message}", code, hit, hit.retry_delay_s)
    if code in (401, 403) or (code == 400 and "api key" in message.lower()):
        return Failure("auth", f"the API key was refused ({code} {status}): {message}", code)
    if code == 404:
        return Failure("not_found", f"not found (404): {message}", code)
    if code == 503:
        return Failure("overloaded", f"the service is overloaded (503): {message}", code, None, delay)
    if code >= 500:
        return Failure("server", f"server error ({code} {status}): {message}", code, None, delay)
    if 400 <= code < 500:
        return Failure("bad_request", f"request refused ({code} {status}): {message}", code)
    return Failure("unknown", f"unexpected answer ({code} {status}): {message}", code)


_CUT = ("RemoteProtocolError", "ReadError", "ClientPayloadError", "ServerDisconnectedError", "IncompleteRead")
# Checked before the timeouts: a connect timeout (ConnectTimeout is also a TimeoutException) means
# the endpoint or the proxy on the way cannot be reached, not that a server is slow or limiting us.
_UNREACHABLE = ("ConnectError", "ConnectTimeout", "ClientConnectorError", "ProxyError", "UnsupportedProtocol")
_TIMEOUT = ("ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "TimeoutError")
PROXY_NOTE = "gemtui.proxy"  # request extension naming the proxy a request was sent through (masked)


def _proxy_note(exc: Any) -> str:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:
        return ""
    extensions = getattr(request, "extensions", None) or {}
    proxy = extensions.get(PROXY_NOTE) if isinstance(extensions, dict) else None
    return f" through the proxy {proxy}" if proxy else ""


def classify(exc: BaseException, *, secrets: tuple[str, ...] = (), streaming_started: bool = False) -> Failure:
    """Map any exception from a Gemini call to a Failure. `streaming_started`: chunks had arrived.
    Its message passes `scrub` as a whole (every secret given and every one the process knows)."""
    failure = _classify(exc, secrets, streaming_started)
    message = scrub(failure.message, secrets)
    return failure if message == failure.message else replace(failure, message=message)


def stream_cut(streaming_started: bool, how: str = "was cut before it finished", where: str = "") -> Failure:
    """An answer stream that broke; whether any of the answer came (and is kept) is said, every wire alike."""
    kept = "; the partial answer is kept" if streaming_started else " (nothing of it had arrived)"
    return Failure("stream_cut", f"{where}{': ' if where else ''}the answer stream {how}{kept}")


def _classify(exc: BaseException, secrets: tuple[str, ...], streaming_started: bool) -> Failure:
    from_sdk = type(exc).__module__.startswith("google.genai")
    if from_sdk and hasattr(exc, "code") and hasattr(exc, "details"):
        return _api_failure(exc, secrets)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_CUT) or (streaming_started and names & set(_TIMEOUT)):
        return stream_cut(streaming_started)
    if names & set(_UNREACHABLE):
        target = mask_url(url) if (url := _request_url(exc)) else "the endpoint"
        via = _proxy_note(exc)
        if "ConnectTimeout" in names:
            return Failure("unreachable", f"connecting to {target}{via} timed out (network failure)")
        return Failure("unreachable", f"cannot reach {target}{via}: {one_line(exc, secrets)}")
    if names & set(_TIMEOUT):
        return Failure("server", "the endpoint did not answer in time")
    if isinstance(exc, ConnectionError | OSError):
        return Failure("unreachable", f"cannot reach the endpoint: {one_line(exc, secrets)}")
    if type(exc).__name__ == "JSONDecodeError" or isinstance(exc, ValueError) and "json" in str(exc).lower():
        return Failure("not_gemini", "the endpoint's answer is not Gemini API JSON; check the relay URL")
    return Failure("unknown", one_line(exc, secrets))
