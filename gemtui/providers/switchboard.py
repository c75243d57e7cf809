"""Which provider answers a model id: `profile:model` goes to that profile's provider, the rest to the primary.

The sender holds one "client" per target; a switchboard stands in for it when more than one provider (or a
non-Gemini one) is configured. Code that still speaks to the Gemini SDK directly (model lists, context
windows) reaches the primary Gemini client through it, so it works unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gemtui.gemini.errors import Failure
from gemtui.generation import GenerationSettings
from gemtui.providers.base import LimitsListener, Provider
from gemtui.providers.gemini import GeminiProvider
from gemtui.turns import StreamChunk, Turn

LINK_SEPARATOR = ":"


def split_link(model: str) -> tuple[str | None, str]:
    """ "deepseek:deepseek-chat" → ("deepseek", "deepseek-chat"); a bare id → (None, id)."""
    label, sep, rest = model.partition(LINK_SEPARATOR)
    if sep and label and rest:
        return label, rest
    return None, model


class Switchboard:
    """A primary provider and the providers other profiles lend the route chain, built on first use."""

    def __init__(self, primary: Provider, links: dict[str, Callable[[], Provider]] | None = None) -> None:
        self.primary = primary
        self._factories = dict(links or {})
        self._built: dict[str, Provider] = {}

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def provider(self, label: str) -> Provider | None:
        if label in self._built:
            return self._built[label]
        factory = self._factories.get(label)
        if factory is None:
            return None
        try:
            built: Provider = factory()
        except Exception as exc:  # no key in the keyring, a locked keyring, a bad endpoint: said per request
            from gemtui.log import get_logger

            get_logger(__name__).exception("the provider of profile %s could not be built", label)
            built = UnusableProvider(label, exc)  # not kept: the next request tries again (a key added since)
            return built
        self._built[label] = built
        return built

    def for_model(self, model: str) -> tuple[Provider, str]:
        label, bare = split_link(model)
        if label is not None and label == self.primary.label:
            return self.primary, bare
        if label is not None:
            provider = self.provider(label)
            if provider is not None:
                return provider, bare
        return self.primary, model

    def __getattr__(self, name: str) -> Any:
        """The primary Gemini SDK client's attributes (`aio`, `models`) for callers that use it directly."""
        if name.startswith("_") or name in ("primary",):
            raise AttributeError(name)
        client = getattr(self.primary, "client", None)
        if isinstance(self.primary, GeminiProvider) and client is not None:
            return getattr(client, name)
        raise AttributeError(f"the {self.primary.api} provider has no {name!r}")


class UnusableProvider:
    """Stands in for a profile whose provider could not be built: every call fails with why, classified as an
    authentication failure that names the profile (so `/model NAME:x` and a send say it in one line)."""

    api = "unusable"

    def __init__(self, label: str, error: Exception) -> None:
        self.label = label
        self.error = error

    def stream(self, model: str, turns: Sequence[Turn], **_: Any) -> AsyncIterator[StreamChunk]:
        raise self.error

    async def count_tokens(self, model: str, turns: Sequence[Turn]) -> int:
        raise self.error

    async def list_models(self) -> list[str]:
        raise self.error

    def classify(self, exc: BaseException, *, secrets: Sequence[str] = (), streaming_started: bool = False) -> Failure:
        from gemtui.errors import one_line

        return Failure("auth", f"profile {self.label!r} cannot be used: {one_line(exc, tuple(secrets))}")


def provider_for(client: Any, model: str) -> tuple[Provider, str]:
    """The provider that answers `model` through `client` (a switchboard, a provider or a genai client)."""
    if isinstance(client, Switchboard):
        return client.for_model(model)
    if isinstance(client, GeminiProvider) or getattr(client, "api", None) in ("gemini", "openai"):
        return client, model
    return GeminiProvider(client), model


def stream_via(
    client: Any,
    model: str,
    turns: Sequence[Turn],
    *,
    system: str | None = None,
    max_output_tokens: int | None = None,
    generation: GenerationSettings | None = None,
    on_limits: LimitsListener | None = None,
) -> AsyncIterator[StreamChunk]:
    provider, bare = provider_for(client, model)
    return provider.stream(
        bare, turns, system=system, max_output_tokens=max_output_tokens, generation=generation, on_limits=on_limits
    )


async def count_via(client: Any, model: str, turns: Sequence[Turn]) -> int:
    provider, bare = provider_for(client, model)
    return await provider.count_tokens(bare, turns)


def classify_via(
    client: Any, model: str, exc: BaseException, *, secrets: Sequence[str] = (), streaming_started: bool = False
) -> Failure:
    provider, _ = provider_for(client, model)
    return provider.classify(exc, secrets=tuple(secrets), streaming_started=streaming_started)


async def models_via(client: Any, model: str = "") -> list[str]:
    """The models the provider that would answer `model` lists: a link's as `label:model`, else the
    primary's as they are. Only that one server is asked (a switchboard lends every profile)."""
    label, _ = split_link(model)
    if isinstance(client, Switchboard) and label is not None and label != client.primary.label:
        linked = client.provider(label)
        if linked is not None:
            return [f"{label}{LINK_SEPARATOR}{m}" for m in await linked.list_models()]
    provider, _ = provider_for(client, "")
    return list(await provider.list_models())
