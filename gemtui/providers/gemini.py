"""The Gemini provider: today's google-genai calls (gemini/client.py) behind the provider interface.

Gemini sends no rate-limit headers; what it says about limits comes in 429 bodies, which the classified
Failure carries to the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from gemtui.gemini.client import count_tokens, model_ids, stream_answer
from gemtui.gemini.errors import Failure, classify
from gemtui.generation import GenerationSettings
from gemtui.providers.base import LimitsListener
from gemtui.turns import StreamChunk, Turn


class GeminiProvider:
    api = "gemini"

    def __init__(self, client: Any, label: str = "") -> None:
        self.client = client  # a genai.Client (or anything with its `.aio` surface)
        self.label = label

    def stream(
        self,
        model: str,
        turns: Sequence[Turn],
        *,
        system: str | None = None,
        max_output_tokens: int | None = None,
        generation: GenerationSettings | None = None,
        on_limits: LimitsListener | None = None,
    ) -> AsyncIterator[StreamChunk]:
        return stream_answer(
            self.client, model, turns, system=system, max_output_tokens=max_output_tokens, generation=generation
        )

    async def count_tokens(self, model: str, turns: Sequence[Turn]) -> int:
        return await count_tokens(self.client, model, turns)

    async def list_models(self) -> list[str]:
        return await model_ids(self.client)

    def classify(self, exc: BaseException, *, secrets: Sequence[str] = (), streaming_started: bool = False) -> Failure:
        return classify(exc, secrets=tuple(secrets), streaming_started=streaming_started)
