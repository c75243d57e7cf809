"""Shared by the TUI tests: an app wired to the test emulator, clocks, and polling helpers."""

from __future__ import annotations

import asyncio
from typing import Any

from gemtui.commands._runtime import Opened
from gemtui.config import Config
from gemtui.runtime import build_runtime
from tests.clocks import SharedClock


class GatedClock(SharedClock):
    """Like SharedClock, but a wait blocks until the test opens the gate (to look at the queue)."""

    def __init__(self, manual: Any) -> None:
        super().__init__(manual)
        self.gate = asyncio.Event()
        self.sleepers = 0

    async def sleep(self, seconds: float) -> None:
        self.sleepers += 1
        await self.gate.wait()
        await super().sleep(seconds)


class FrozenClock:
    """Never moves and never wakes: snapshots stay identical run to run."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def make_runtime(emulator: Any, clock: Any, config: Config | None = None, **extra: Any) -> Any:
    """The demo profile on the emulator; `extra` goes to build_runtime (links, profile_limits, …)."""
    return build_runtime(
        profile_name="demo",
        project="demo",
        tier="free",
        api_key="demo-key",
        endpoint=emulator.base_url,
        api_version=None,
        config=config or Config({}),
        clock=clock,
        **extra,
    )


def make_app(
    emulator: Any,
    clock: Any,
    *,
    config: Config | None = None,
    resume: str | None = None,
    model: str | None = None,
    tick: float = 0.2,
) -> Any:
    from gemtui.tui.app import GemtuiApp

    config = config or Config({})
    runtime = make_runtime(emulator, clock, config)
    return GemtuiApp(lambda: Opened(runtime), config=config, resume=resume, model=model, clock_tick_s=tick)


def fill(runtime: Any, model: str, requests: int, tokens: int = 10) -> None:
    """Our own usage, committed through the engine (as another gemtui process sharing the ledger would)."""
    from gemtui.quota.engine import RequestCost

    for _ in range(requests):
        admission = runtime.engine.try_reserve(runtime.project, model, RequestCost(input_tokens=tokens))
        assert admission.granted, admission.reason
        runtime.engine.commit(admission.reservation_id, input_tokens=tokens)


async def until(pilot: Any, predicate: Any, timeout: float = 10.0, step: float = 0.05) -> None:
    """Poll `predicate()` between frames; fail with a clear message on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(predicate, '__name__', predicate)}")
        await pilot.pause(step)


async def ready(pilot: Any) -> Any:
    """Wait until the runtime, the client and the stores are up; returns the chat screen."""
    from gemtui.tui.screens.chat import ChatScreen

    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, ChatScreen) and app.client_ready.is_set() and app.screen.queue is not None,
        timeout=20,
    )
    return app.screen


async def submit(pilot: Any, text: str) -> None:
    screen = pilot.app.screen
    screen.composer.set_text(text)
    screen.composer.area.focus()
    await pilot.press("enter")
    await pilot.pause()


def answers(screen: Any) -> list[Any]:
    return [m for m in screen.conversation.messages() if m.role == "model"]


def labels(screen: Any) -> list[str]:
    """Answer labels without the `#N ` number and `pinned · ` the chat screen puts in front."""
    return [getattr(m, "gemtui_base_label", m._label) for m in answers(screen)]


def shown_labels(screen: Any) -> list[str]:
    """Every message's label as shown, number and pin included."""
    return [m._label for m in screen.conversation.messages()]
