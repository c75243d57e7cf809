"""Building `genai.Client` from what a profile says, and the few calls gemtui makes with it.

The SDK is imported inside the functions so that `gemtui --help` and the first paint of the app never
pay its import cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Turn:
    """One message of history as the API sees it (`role` is "user" or "model")."""

    role: str
    text: str


@dataclass
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    thought_tokens: int | None = None
    total_tokens: int | None = None


@dataclass
class StreamChunk:
    """One SSE event reduced to what gemtui uses; usage holds running totals."""

    text: str = ""
    thought: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model_version: str | None = None
    block_reason: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)


def make_client(
    api_key: str,
    base_url: str | None = None,
    api_version: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """A `genai.Client` for the official API or a relay (`base_url`), Gemini Developer API mode."""
    from google import genai
    from google.genai import types

    options: dict[str, Any] = {"timeout": int(timeout_s * 1000)}
    if base_url:
        options["base_url"] = base_url
    if api_version:
        options["api_version"] = api_version
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(**options))


def build_contents(turns: Sequence[Turn]) -> list[Any]:
    from google.genai import types

    return [types.Content(role=t.role, parts=[types.Part(text=t.text)]) for t in turns]


def build_config(system: str | None = None, max_output_tokens: int | None = None) -> Any:
    from google.genai import types

    kwargs: dict[str, Any] = {}
    if system:
        kwargs["system_instruction"] = system
    if max_output_tokens:
        kwargs["max_output_tokens"] = max_output_tokens
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
        for part in (content.parts if content and content.parts else []):
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
) -> AsyncIterator[StreamChunk]:
    """Stream an answer through the SDK's async client, one StreamChunk per SSE event."""
    stream = await client.aio.models.generate_content_stream(
        model=model,
        contents=build_contents(turns),
        config=build_config(system, max_output_tokens),
    )
    async for response in stream:
        yield to_chunk(response)


async def count_tokens(client: Any, model: str, turns: Sequence[Turn]) -> int:
    result = await client.aio.models.count_tokens(model=model, contents=build_contents(turns))
    return int(result.total_tokens or 0)


async def input_token_limit(client: Any, model: str) -> int | None:
    """The model's context window as the server states it (`inputTokenLimit`)."""
    info = await client.aio.models.get(model=model)
    return getattr(info, "input_token_limit", None)
