"""The OpenAI-compatible provider: Chat Completions through the official `openai` SDK.

It serves OpenAI itself, DeepSeek, a local Ollama or vLLM server and the relays that speak this protocol.
The SDK never retries on its own (the quota engine decides every wait). Each answer's `x-ratelimit-*`
headers, and a 429's, are told to the listener, which turns them into ledger facts. The SDK is imported
when the first client is built, so start-up never pays for it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from gemtui.errors import mask_url, one_line, scrub
from gemtui.gemini.errors import Failure, FailureKind, classify, stream_cut
from gemtui.gemini.ratelimit import parse_retry_after
from gemtui.generation import GenerationSettings
from gemtui.providers.base import LimitsListener
from gemtui.quota.headers import MAX_RESET_S, parse_headers
from gemtui.quota.signals import QuotaHit, Violation
from gemtui.turns import StreamChunk, Turn, Usage

DEFAULT_TIMEOUT_S = 120.0


class IncompleteStream(Exception):
    """A stream that closed without a finish reason: the answer is cut, whatever the connection said."""


_DIMENSION_OF = {"requests": "rpm", "tokens": "tpm"}


class OpenAICompatProvider:
    api = "openai"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        label: str = "",
        headers: Sequence[tuple[str, str]] = (),
        proxy: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.label = label
        self.base_url = base_url
        self._api_key = api_key
        self._headers = dict(headers)
        self._proxy = proxy
        self._timeout_s = timeout_s
        self._client: Any = None
        self._usage_in_streams = True  # ask for usage in streams until the server says it cannot

    @property
    def client(self) -> Any:
        """The SDK's `AsyncOpenAI`, built on first use."""
        if self._client is None:
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            http_client = DefaultAsyncHttpxClient(proxy=self._proxy) if self._proxy else None
            # A relay's `?token=…` goes on every request as a query parameter: the SDK appends paths to
            # its base URL as text, which put `chat/completions` after the query.
            parts = urlsplit(self.base_url)
            self._client = AsyncOpenAI(
                api_key=self._api_key or "none",
                base_url=urlunsplit(parts._replace(query="", fragment="")),
                default_query=dict(parse_qsl(parts.query, keep_blank_values=True)) or None,
                default_headers=self._headers or None,
                max_retries=0,
                timeout=self._timeout_s,
                http_client=http_client,
            )
        return self._client

    async def stream(
        self,
        model: str,
        turns: Sequence[Turn],
        *,
        system: str | None = None,
        max_output_tokens: int | None = None,
        generation: GenerationSettings | None = None,
        on_limits: LimitsListener | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """One StreamChunk per streamed event; the last carries the usage the server reports."""
        from openai import APIStatusError

        kwargs: dict[str, Any] = {"model": model, "messages": build_messages(turns, system), "stream": True}
        if self._usage_in_streams:
            kwargs["stream_options"] = {"include_usage": True}
        kwargs.update(sampling(generation, max_output_tokens))
        try:
            raw = await self._create(kwargs)
        except APIStatusError as exc:
            _tell(on_limits, exc.response.headers)
            raise
        _tell(on_limits, raw.headers)
        stream = raw.parse()
        finished = False
        try:
            async for event in stream:
                chunk = to_chunk(event)
                finished = finished or bool(chunk.finish_reason)
                yield chunk
        finally:
            await stream.close()
        if not finished:  # every complete answer names why it ended; a clean close without one is a cut
            raise IncompleteStream("the stream ended before the server said the answer was finished")

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        """The streamed request; a server too old for `stream_options` (a 400 naming it, which it did not
        count) is asked again without it, and from then on never with it: its answers carry no usage."""
        from openai import BadRequestError

        try:
            return await self.client.chat.completions.with_raw_response.create(**kwargs)
        except BadRequestError as exc:
            if "stream_options" not in kwargs or "stream_options" not in str(exc):
                raise
            self._usage_in_streams = False
            kwargs = {k: v for k, v in kwargs.items() if k != "stream_options"}
            return await self.client.chat.completions.with_raw_response.create(**kwargs)

    async def aclose(self) -> None:
        """Close the SDK's connections (before the event loop that opened them ends)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def count_tokens(self, model: str, turns: Sequence[Turn]) -> int:
        """Chat Completions has no count endpoint: the caller's estimate stands."""
        raise NotImplementedError("an OpenAI-compatible server offers no token count")

    async def list_models(self) -> list[str]:
        page = await self.client.models.list()
        return [m.id async for m in page]

    def classify(self, exc: BaseException, *, secrets: Sequence[str] = (), streaming_started: bool = False) -> Failure:
        failure = self._classify(exc, tuple(secrets), streaming_started)
        message = scrub(failure.message, tuple(secrets))
        return failure if message == failure.message else replace(failure, message=message)

    def _classify(self, exc: BaseException, secrets: tuple[str, ...], streaming_started: bool) -> Failure:
        import openai

        where = mask_url(self.base_url)
        if isinstance(exc, IncompleteStream):
            return stream_cut(streaming_started, "ended before the answer was finished", where)
        if isinstance(exc, openai.APITimeoutError):
            if streaming_started:
                return stream_cut(streaming_started)
            return Failure("server", f"{where} did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            if streaming_started:
                return stream_cut(streaming_started)
            cause = exc.__cause__ or exc
            if not _never_left(exc):  # connected, then dropped: the server had the request and may count it
                return Failure("server", f"{where} closed the connection before answering: {one_line(cause, secrets)}")
            return Failure("unreachable", f"cannot reach {where}: {one_line(cause, secrets)}")
        if isinstance(exc, openai.APIStatusError):
            return _status_failure(exc, where, secrets)
        if isinstance(exc, openai.APIError):  # an error event inside a stream
            kind: FailureKind = "stream_cut" if streaming_started else "server"
            return Failure(kind, f"{where} reported an error: {one_line(exc, secrets)}")
        return classify(exc, secrets=secrets, streaming_started=streaming_started)


# The HTTP client's errors that come before a request's bytes leave (no connection was made).
_CONNECT_ERRORS = ("ConnectError", "ConnectTimeout", "ProxyError", "UnsupportedProtocol")


def _never_left(exc: BaseException) -> bool:
    """Whether the connection error behind `exc` happened while connecting, so nothing was sent."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if any(cls.__name__ in _CONNECT_ERRORS for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tell(listener: LimitsListener | None, headers: Any) -> None:
    if listener is None or headers is None:
        return
    facts = parse_headers({str(k): str(v) for k, v in headers.items()})
    if not facts.empty:
        listener(facts)


def _error_fields(exc: Any) -> tuple[str, str, str]:
    """(message, type, code) of an OpenAI-style error body, "" where absent."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and any(error.get(k) for k in ("message", "type", "code")):
        return (str(error.get("message") or ""), str(error.get("type") or ""), str(error.get("code") or ""))
    # What other servers put in an error body: {"error": "text"}, FastAPI's {"detail": "text"}, plain text
    if isinstance(body, dict):
        said = next((body[k] for k in ("error", "detail", "message") if isinstance(body.get(k), str)), "")
        if said:
            return said, "", ""
    if isinstance(body, str) and body.strip():
        return body, "", ""
    return str(getattr(exc, "message", "") or ""), "", ""


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `Retry-After` (seconds or an HTTP date against the response's `Date`)."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            seconds = float(ms.strip()) / 1000
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and 0 <= seconds <= MAX_RESET_S:  # beyond a week: nonsense, not a wait
            return seconds
    return parse_retry_after(lower.get("retry-after"), lower.get("date"))


def _said(text: str, secrets: tuple[str, ...]) -> str:
    """What the server said, as one scrubbed line (scrubbed before it is cut)."""
    line = scrub(" ".join(text.split()), secrets)
    return line if len(line) <= 300 else line[:297] + "..."


def _status_failure(exc: Any, where: str, secrets: tuple[str, ...]) -> Failure:
    status = int(getattr(exc, "status_code", 0) or 0)
    headers = dict(getattr(getattr(exc, "response", None), "headers", {}) or {})
    message, kind, code = _error_fields(exc)
    said = _said(message, secrets) if message else f"HTTP {status}"
    if status == 429:
        delay = retry_after_s(headers)
        facts = parse_headers(headers)
        dim = _DIMENSION_OF.get(kind) or next((d for d, left in facts.remaining.items() if left <= 0), None)
        if code == "insufficient_quota":  # the account's credit, not a window: waiting will not bring it back
            return Failure(
                "auth", f"{where}: the account behind this key has no quota left (insufficient_quota): {said}", status
            )
        if dim is None:
            hit = QuotaHit((), delay)
            return Failure("capacity", f"{where} refused the request (429): {said}", status, hit, delay)
        hit = QuotaHit((Violation(dim, limit=facts.limits.get(dim)),), delay)  # type: ignore[arg-type]
        return Failure("rate_limited", f"{where} rate limit ({dim.upper()}) reached: {said}", status, hit, delay)
    if status in (401, 403):
        return Failure("auth", f"{where} refused the key ({status}): {said}", status)
    if status == 404:
        return Failure("not_found", f"{where} has no such model or path (404): {said}", status)
    if status == 408:  # the server gave up waiting for us: worth another try, like a 5xx
        return Failure("server", f"{where} timed out the request (408): {said}", status)
    if status in (400, 409, 413, 422):
        return Failure("bad_request", f"{where} rejected the request ({status}): {said}", status)
    if status == 503:
        return Failure(
            "overloaded", f"{where} is overloaded (503): {said}", status, retry_after_s=retry_after_s(headers)
        )
    if status >= 500:
        return Failure("server", f"{where} failed ({status}): {said}", status, retry_after_s=retry_after_s(headers))
    return Failure("unknown", f"{where} answered {status}: {said}", status)


def sampling(generation: GenerationSettings | None, max_output_tokens: int | None) -> dict[str, Any]:
    """The generation settings Chat Completions has: temperature, top_p and max_tokens (a thinking budget
    is Gemini's own and is not sent)."""
    out: dict[str, Any] = {}
    if generation is not None:
        if generation.temperature is not None:
            out["temperature"] = generation.temperature
        if generation.top_p is not None:
            out["top_p"] = generation.top_p
        max_output_tokens = generation.max_output or max_output_tokens
    if max_output_tokens:
        out["max_tokens"] = max_output_tokens
    return out


def build_messages(turns: Sequence[Turn], system: str | None) -> list[dict[str, Any]]:
    """Turns as Chat Completions messages (Gemini's "model" role is "assistant" here). Attached text files
    go before the prompt as text, headed by their path; images as data URLs, the form the API takes."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for turn in turns:
        role = "assistant" if turn.role == "model" else "user"
        if not turn.attachments:
            messages.append({"role": role, "content": turn.text})
            continue
        parts: list[dict[str, Any]] = []
        for item in turn.attachments:
            if item.is_text:
                parts.append({"type": "text", "text": item.headed_text()})
            elif item.data is not None and item.mime.startswith("image/"):
                url = f"data:{item.mime};base64,{base64.b64encode(item.data).decode('ascii')}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
        parts.append({"type": "text", "text": turn.text})
        messages.append({"role": role, "content": parts})
    return messages


def to_chunk(event: Any) -> StreamChunk:
    """Flatten one ChatCompletionChunk."""
    usage = getattr(event, "usage", None)
    chunk = StreamChunk(
        usage=Usage(
            input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens, total_tokens=usage.total_tokens
        )
        if usage is not None
        else None
    )
    chunk.model_version = getattr(event, "model", None)
    for choice in getattr(event, "choices", None) or []:
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else None
        if text:
            chunk.text += text
        if choice.finish_reason:
            chunk.finish_reason = {"stop": "STOP", "length": "MAX_TOKENS"}.get(
                choice.finish_reason, str(choice.finish_reason).upper()
            )
        break
    return chunk
