"""The one interface every provider offers the sender, and the facts it reports about limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from gemtui.gemini.errors import Failure
from gemtui.generation import GenerationSettings
from gemtui.quota.headers import HeaderFacts
from gemtui.turns import StreamChunk, Turn

# Told what the server said about its limits after each request (answered or refused).
LimitsListener = Callable[[HeaderFacts], None]


@runtime_checkable
class Provider(Protocol):
    """Stream an answer, count tokens, list models, classify a failure; report limits as they are heard.

    `api` names the wire ("gemini", "openai"); `label` is what a badge shows before the model
    ("deepseek" in "deepseek:deepseek-chat"; "" for the primary Gemini provider)."""

    api: str
    label: str

    def stream(
        self,
        model: str,
        turns: Sequence[Turn],
        *,
        system: str | None = None,
        max_output_tokens: int | None = None,
        generation: GenerationSettings | None = None,
        on_limits: LimitsListener | None = None,
    ) -> AsyncIterator[StreamChunk]: ...

    async def count_tokens(self, model: str, turns: Sequence[Turn]) -> int: ...

    async def list_models(self) -> list[str]: ...

    def classify(
        self, exc: BaseException, *, secrets: Sequence[str] = (), streaming_started: bool = False
    ) -> Failure: ...
