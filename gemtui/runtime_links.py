"""The route chain's providers: which profile answers each `profile:model` link, and the client a runtime
sends through (a switchboard when the chain or the profile's own wire needs one).

Part of the composition root: it reads profiles (auth/) and builds providers, so only runtime.py and the
commands use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gemtui.chat.router import use_route
from gemtui.config import Config
from gemtui.log import get_logger
from gemtui.providers.switchboard import Switchboard, split_link

logger = get_logger(__name__)

Factory = Callable[[], Any]


def configured_route(config: Config) -> list[str]:
    """`[routing] route` as written: aliases, model ids and `profile:model` links (non-strings dropped)."""
    route = config.section("routing").get("route")
    if not isinstance(route, list):
        return []
    return [str(link).strip() for link in route if isinstance(link, str) and link.strip()]


def apply_route(route: Iterable[str], usable: Iterable[str]) -> list[str]:
    """Auto mode follows `route`, minus links whose profile cannot be used (`usable`: the labels that can)."""
    labels = set(usable)
    kept = [link for link in route if split_link(link)[0] is None or split_link(link)[0] in labels]
    use_route(kept)
    return kept


def chain_links(config: Config, own_name: str, own_model: str | None = None) -> dict[str, Factory]:
    """A provider factory for each other profile the configured chain names; a link whose profile cannot be
    resolved (missing, no key) is left out of the chain, with one warning in the log. Without a configured
    chain, an OpenAI-compatible profile's auto mode is its own model (`own_model`)."""
    from gemtui.auth.errors import AuthError
    from gemtui.auth.resolve import resolve_profile

    route = configured_route(config)
    if not route and own_model:
        use_route([own_model])
        return profile_links(config, own_name, {})
    links: dict[str, Factory] = {}
    for link in route:
        label, _ = split_link(link)
        if label is None or label == own_name or label in links:
            continue
        try:
            resolved = resolve_profile(label, config=config)
        except AuthError as exc:
            logger.warning("route link %s left out: %s", link, exc)
            continue
        links[label] = resolved_factory(label, resolved)
    apply_route(route, {*links, own_name})
    return profile_links(config, own_name, links)


def profile_links(config: Config, own_name: str, links: dict[str, Factory]) -> dict[str, Factory]:
    """`links`, plus a factory for every other profile, so `/model NAME:model` reaches any of them. Those
    resolve their profile (the keyring) when first used, not at start: a profile without a key costs nothing
    until it is chosen, and then fails that one request with its reason."""
    from gemtui.auth.profiles import list_profiles

    every = dict(links)
    for profile in list_profiles(config):
        if profile.name != own_name and profile.name not in every:
            every[profile.name] = lazy_profile_factory(profile.name, config)
    return every


def resolved_factory(label: str, resolved: Any) -> Factory:
    """The provider factory of a resolved profile (key, endpoint, headers and proxy in hand)."""
    return provider_factory(
        label,
        resolved.api,
        resolved.api_key,
        resolved.endpoint,
        resolved.api_version,
        resolved.headers,
        resolved.proxy,
    )


def lazy_profile_factory(label: str, config: Config) -> Factory:
    def build() -> Any:
        from gemtui.auth.resolve import resolve_profile

        resolved = resolve_profile(label, config=config)
        return resolved_factory(label, resolved)()

    return build


def profile_models(config: Config, own_name: str) -> list[str]:
    """What other profiles answer, as `NAME:model`, for the model picker and the palette: an
    OpenAI-compatible profile's own model, a Gemini profile's fallback chain. Reads the config only."""
    from gemtui.auth.profiles import list_profiles
    from gemtui.quota.limits import FALLBACK_ORDER

    found: list[str] = []
    for profile in list_profiles(config):
        if profile.name == own_name:
            continue
        if profile.api == "openai":
            found += [f"{profile.name}:{profile.model}"] if profile.model else []
        else:
            found += [f"{profile.name}:{model}" for model in FALLBACK_ORDER]
    return found


def profile_limits(config: Config, own_name: str, own_model: str | None = None) -> dict[str, dict[str, int | str]]:
    """`[limits]` entries that profiles set (`rpm`, `tpm` in `[profiles.NAME]`) for the models they answer:
    each chain link `NAME:model`, and the active profile's own model. A server's headers beat them."""
    from gemtui.auth.profiles import find_profile

    found: dict[str, dict[str, int | str]] = {}
    own = find_profile(own_name, config)
    if own is not None and own.limits and own_model:
        found[own_model] = own.limits
    found.update(gemini_profile_limits(config, own_name))
    for link in configured_route(config):
        label, bare = split_link(link)
        profile = find_profile(label, config) if label else None
        if profile is not None and profile.limits:
            found[link] = profile.limits
            if label == own_name:
                found[bare] = profile.limits
    return found


def gemini_profile_limits(config: Config, own_name: str) -> dict[str, dict[str, int | str]]:
    """Another Gemini profile's models (`NAME:gemini-2.5-pro`) have the published limits of the model at
    that profile's tier: the same model on another project, not an unknown one. ("unlimited" where the
    table has no limit.)"""
    from gemtui.auth.profiles import list_profiles
    from gemtui.quota.limits import DIMENSIONS, FALLBACK_ORDER, LimitTable

    table = LimitTable()
    found: dict[str, dict[str, int | str]] = {}
    for profile in list_profiles(config):
        if profile.name == own_name or profile.api != "gemini":
            continue
        for model in FALLBACK_ORDER:
            limits = table.limits(model, profile.tier)
            if all(limits.source.get(dim) == "table" for dim in DIMENSIONS):
                found[f"{profile.name}:{model}"] = {
                    dim: value if value is not None else "unlimited" for dim, value in limits.as_dict().items()
                }
    return found


def provider_factory(
    label: str,
    api: str,
    api_key: str,
    endpoint: str | None,
    api_version: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    proxy: str | None = None,
) -> Factory:
    """Builds the provider for one profile when first asked (no SDK import before that)."""

    def build() -> Any:
        if api == "openai":
            from gemtui.providers.openai_compat import OpenAICompatProvider

            return OpenAICompatProvider(api_key, endpoint or "", label=label, headers=headers, proxy=proxy)
        from gemtui.gemini.client import make_client
        from gemtui.providers.gemini import GeminiProvider

        return GeminiProvider(make_client(api_key, endpoint, api_version, headers=headers, proxy=proxy), label)

    return build


def client_for(runtime: Any) -> Any:
    """The runtime's client: the plain Gemini SDK client when nothing else is configured, else a switchboard
    whose primary is the runtime's own provider."""
    primary_factory = provider_factory(
        runtime.profile_name,
        runtime.api,
        runtime.api_key,
        runtime.endpoint,
        runtime.api_version,
        runtime.headers,
        runtime.proxy,
    )
    if runtime.api == "gemini" and not runtime.links:
        return primary_factory().client
    return Switchboard(primary_factory(), dict(runtime.links))


def check_openai_profile(profile: Any) -> Any:
    """`auth test` for an OpenAI-compatible profile: list its models (no tokens spent); the result says
    whether its default model is among them, or the classified failure in one line."""
    import asyncio

    from gemtui.auth.check import CheckResult
    from gemtui.providers.openai_compat import OpenAICompatProvider

    who = (
        f"profile {profile.name!r} ({profile.source}, key {profile.masked_key}, {profile.masked_endpoint}, API openai)"
    )
    provider = OpenAICompatProvider(
        profile.api_key,
        profile.endpoint or "",
        label=profile.name,
        headers=profile.headers,
        proxy=profile.proxy,
        timeout_s=30.0,
    )

    async def listed() -> list[str]:
        try:
            return await provider.list_models()
        finally:
            await provider.aclose()

    try:
        ids = asyncio.run(listed())
    except Exception as exc:  # every failure is the finding, classified into one line
        logger.debug("auth test of %s failed", profile.name, exc_info=True)
        failure = provider.classify(exc, secrets=profile.secrets)
        return CheckResult(False, profile.redact(f"{who}: {failure.message}"), failure.kind)
    model = profile.model
    if model and model not in ids:
        return CheckResult(
            False, profile.redact(f"{who}: the key was accepted but the server lists no model {model!r}"), "not_found"
        )
    shown = f"{model} is available" if model else f"{len(ids)} models listed"
    return CheckResult(True, profile.redact(f"ok: {who}: the key was accepted and {shown}"))
