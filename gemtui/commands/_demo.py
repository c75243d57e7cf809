"""`--demo`: the bundled emulator in this process, free-tier limits, no key needed."""

from __future__ import annotations

from typing import Any

DEMO_KEY = "demo-key"
DEMO_PROJECT = "demo"


def start_demo_emulator(tier: str = "free") -> Any:
    from gemtui.emulator import Emulator

    emulator = Emulator(tier=tier, keys={DEMO_KEY: DEMO_PROJECT})
    emulator.start()
    return emulator
