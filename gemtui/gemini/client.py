"""Building `genai.Client` from what a profile says, and the few calls gemtui makes with it.

The SDK is imported inside the functions so that `gemtui --help` and the first paint of the app never
pay its import cost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from gemtui.generation import GenerationSettings
from gemtui.turns import StreamChunk, Turn, Usage

DEFAULT_TIMEOUT_S = 120.0


def make_client(
    api_key: str,
    base_url: str | None = None,
    api_version: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    headers: Sequence[tuple[str, str]] = (),
    proxy: str | None = None,
) -> Any:
    """A `genai.Client` for the official API or a relay (`base_url`), Gemini Developer API mode.

    `headers` go on every request (relays that authenticate by header). A query in `base_url`
    (`https://relay.example/x?token=abc`) is kept on every request: the SDK would glue it into the
    path (`...:streamGenerateContent?alt=sse?token=abc`), so it is cut off here and merged into each
    request's URL by an httpx event hook. `proxy` overrides HTTPS_PROXY/ALL_PROXY, which httpx
    honours by itself otherwise.
    """
    from google import genai
    from google.genai import types

    options: dict[str, Any] = {"timeout": int(timeout_s * 1000)}
    params: list[tuple[str, str]] = []
    if base_url:
        base_url, params = split_query(base_url)
        options["base_url"] = base_url
    if api_version:
        options["api_version"] = api_version
    if headers:
        options["headers"] = dict(headers)
    prepare = _request_preparer(params, proxy)
    sync_args: dict[str, Any] = {"event_hooks": {"request": [prepare]}}

    async def prepare_async(request: Any) -> None:
        prepare(request)

    async_args: dict[str, Any] = {"event_hooks": {"request": [prepare_async]}}
    if proxy:
        sync_args["proxy"] = async_args["proxy"] = proxy
    options["client_args"] = sync_args
    options["async_client_args"] = async_args
    try:
        return genai.Client(api_key=api_key, http_options=types.HttpOptions(**options))
    except ImportError as exc:  # httpx builds the proxy transport here, and SOCKS needs an extra package
        if "socksio" in str(exc):
            raise ValueError(
                "a SOCKS proxy (from ALL_PROXY/HTTPS_PROXY or the profile's --proxy) needs the "
                "socksio package: pip install socksio"
            ) from None
        raise


def split_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    """`https://h/x?token=abc` → (`https://h/x`, [("token", "abc")]); order and repeats kept."""
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.query:
        return url, []
    params = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit(parts._replace(query="", fragment="")), params


_ENV_PROXIES = {
    "https": ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"),
    "http": ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"),
}


def _env_proxy(url: Any) -> str | None:
    """The proxy httpx takes from the environment for `url`, if any (NO_PROXY respected)."""
    import os
    from urllib.request import proxy_bypass_environment

    for name in _ENV_PROXIES.get(url.scheme, ()):
        value = os.environ.get(name, "").strip()
        if value:
            return None if proxy_bypass_environment(url.host) else value
    return None


def _request_preparer(params: list[tuple[str, str]], proxy: str | None):
    """An httpx request hook: add the endpoint's own query parameters, and note (masked) which proxy
    the request goes through, so a connection failure can say it was the proxy that failed."""
    from gemtui.errors import mask_url
    from gemtui.gemini.errors import PROXY_NOTE

    def prepare(request: Any) -> None:
        if params:
            present = set(request.url.params.keys())
            extra = [(k, v) for k, v in params if k not in present]
            if extra:
                request.url = request.url.copy_merge_params(extra)
        via = proxy or _env_proxy(request.url)
        if via:
            request.extensions[PROXY_NOTE] = mask_url(via)

    return prepare


def build_contents(turns: Sequence[Turn]) -> list[Any]:
    from google.genai import types

    return [types.Content(role=t.role, parts=_parts(t)) for t in turns]


def _parts(turn: Turn) -> list[Any]:
    """A turn's attachments first (text files as text headed by their path, images and PDFs as inline
    data with their MIME type), then its text."""
    from google.genai import types

    parts = [
        types.Part(text=a.headed_text()) if a.is_text else types.Part.from_bytes(data=a.data or b"", mime_type=a.mime)
        for a in turn.attachments
    ]
    if turn.text or not parts:
        parts.append(types.Part(text=turn.text))
    return parts


def build_config(
    system: str | None = None, max_output_tokens: int | None = None, generation: GenerationSettings | None = None
) -> Any:
    """The request's generation config: only what is set is sent (the model's defaults otherwise)."""
    from google.genai import types

    kwargs: dict[str, Any] = {}
    if system:
        kwargs["system_instruction"] = system
    settings = generation or GenerationSettings()
    if settings.max_output is not None:
        max_output_tokens = settings.max_output
    if max_output_tokens:
        kwargs["max_output_tokens"] = max_output_tokens
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if settings.top_p is not None:
        kwargs["top_p"] = settings.top_p
    if settings.thinking_budget is not None:
        kwargs["thinking_config"] = types.ThinkingConfig(thinking_budget=settings.thinking_budget)
    return types.GenerateContentConfig(**kwargs) if kwargs else None


def _usage(meta: Any) -> Usage | None:
    if meta is None:
        return None
    return Usage(
        input_tokens=getattr(meta, "prompt_token_count", None),
        output_tokens=getattr(meta, "candidates_token_count", None),
        thought_tokens=getattr(meta, "thoughts_token_count", None),
        total_tokens=getattr(meta, "total_token_count", None),
    )


def to_chunk(response: Any) -> StreamChunk:
    """Flatten a GenerateContentResponse (one streamed event or a whole answer)."""
    chunk = StreamChunk(usage=_usage(getattr(response, "usage_metadata", None)))
    chunk.model_version = getattr(response, "model_version", None)
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        chunk.block_reason = str(getattr(feedback.block_reason, "value", feedback.block_reason))
    for candidate in getattr(response, "candidates", None) or []:
        if candidate.finish_reason:
            chunk.finish_reason = str(getattr(candidate.finish_reason, "value", candidate.finish_reason))
        content = candidate.content
        for part in content.parts if content and content.parts else []:
            if part.text:
                if part.thought:
                    chunk.thought += part.text
                else:
                    chunk.text += part.text
            inline = getattr(part, "inline_data", None)
            if inline is not None and inline.data:
                chunk.images.append((inline.mime_type or "application/octet-stream", inline.data))
        break  # gemtui asks for one candidate
    return chunk


async def stream_answer(
    client: Any,
    model: str,
    turns: Sequence[Turn],
    *,
    system: str | None = None,
    max_output_tokens: int | None = None,
    generation: GenerationSettings | None = None,
) -> AsyncIterator[StreamChunk]:
    """Stream an answer through the SDK's async client, one StreamChunk per SSE event."""
    stream = await client.aio.models.generate_content_stream(
        model=model,
        contents=build_contents(turns),
        config=build_config(system, max_output_tokens, generation),
    )
    try:
        async for response in stream:
            yield to_chunk(response)
    except Exception as exc:
        await _finish_failed_stream(exc)
        raise


STREAM_DRAIN_S = 2.0


async def _finish_failed_stream(exc: BaseException) -> None:
    """Read a failed stream to its end so its generators finish now, in order.

    When an error event ends a stream, the SDK raises from inside a chain of suspended async
    generators (its SSE reader, httpx's byte iterators). Left alone, asyncio closes them all at
    once when the loop shuts down, and they trip over each other ("aclose(): asynchronous generator
    is already running" printed after gemtui's own one-line error). Draining what is left (the
    server ends the stream after an error event) lets each finish normally; if that takes too
    long, the connection is closed instead.
    """
    sdk_response = getattr(exc, "response", None)
    segments = getattr(sdk_response, "segment_iterator", None)
    if segments is None or not hasattr(segments, "__anext__"):
        return
    try:
        async with asyncio.timeout(STREAM_DRAIN_S):
            async for _ in segments:
                pass
    except Exception:  # a second failure while draining changes nothing the caller will report
        raw = getattr(sdk_response, "response_stream", None)
        with contextlib.suppress(Exception):
            if raw is not None and hasattr(raw, "aclose"):
                await raw.aclose()


async def count_tokens(client: Any, model: str, turns: Sequence[Turn]) -> int:
    result = await client.aio.models.count_tokens(model=model, contents=build_contents(turns))
    return int(result.total_tokens or 0)


async def model_ids(client: Any) -> list[str]:
    """Every model id the server lists (`models.list`, all pages), without the `models/` prefix."""
    ids = []
    async for info in await client.aio.models.list():
        name = getattr(info, "name", None) or ""
        if name:
            ids.append(name.removeprefix("models/"))
    return ids


async def input_token_limit(client: Any, model: str) -> int | None:
    """The model's context window as the server states it (`inputTokenLimit`)."""
    info = await client.aio.models.get(model=model)
    return getattr(info, "input_token_limit", None)
