"""`--demo`: the bundled emulator in this process, free-tier limits, no key needed.

The emulator's OpenAI-compatible side stands in for a second provider: the demo's route chain ends with
`deepseek:deepseek-chat` (unless the config names a chain), so failover across providers can be seen."""

from __future__ import annotations

from typing import Any

DEMO_KEY = "demo-key"
DEMO_PROJECT = "demo"
DEMO_LINK = "deepseek"  # the demo's OpenAI-compatible "profile", served by the same emulator
DEMO_ROUTE = ("pro", "flash", "lite", f"{DEMO_LINK}:deepseek-chat")


def start_demo_emulator(tier: str = "free") -> Any:
    from gemtui.emulator import Emulator

    emulator = Emulator(tier=tier, keys={DEMO_KEY: DEMO_PROJECT})
    emulator.start()
    return emulator


def demo_links(emulator: Any, config: Any) -> dict[str, Any]:
    """The demo's chain: the config's route (or DEMO_ROUTE), its `deepseek:` link served by the emulator."""
    from gemtui.runtime_links import apply_route, configured_route, provider_factory

    links = {DEMO_LINK: provider_factory(DEMO_LINK, "openai", DEMO_KEY, f"{emulator.base_url}/v1")}
    apply_route(configured_route(config) or list(DEMO_ROUTE), {*links, "demo"})
    return links
