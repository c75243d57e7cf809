"""Everything the emulator knows, behind one lock: keys, tiers, limits overrides, pacing, faults, usage.

The HTTP handlers (server thread) and the in-process API (test thread) both go through this object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gemtui.emulator import catalogue
from gemtui.emulator.clock import EmuClock
from gemtui.emulator.faults import Fault, FaultQueue
from gemtui.emulator.limits import DIMENSIONS, TABLE, Limits, check_tier
from gemtui.emulator.quota import QuotaBook, Violation

KEY_STATUSES = ("valid", "invalid", "forbidden")
UNLIMITED = -1  # pass to set_limits() to lift a limit; None there means "leave as is"


@dataclass(frozen=True)
class KeyInfo:
    project: str
    status: str = "valid"


class EmulatorState:
    def __init__(self, tier: str = "free", speed: float = 1.0, epoch: float | None = None,
                 clock: Callable[[], float] | None = None, ttft_s: float = 0.3, tokens_per_s: float = 250.0,
                 keys: dict[str, str] | None = None, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.clock = EmuClock(speed=speed, epoch=epoch, clock=clock)
        self.default_tier = check_tier(tier)
        self.seed = int(seed)
        self.ttft_s = 0.0
        self.tokens_per_s = 1.0
        self.set_pacing(ttft_s=ttft_s, tokens_per_s=tokens_per_s)
        self._initial_keys = dict(keys if keys is not None else {"demo-key": "demo"})
        self._initial_pacing = (self.ttft_s, self.tokens_per_s)
        self.keys: dict[str, KeyInfo] = {k: KeyInfo(p) for k, p in self._initial_keys.items()}
        self.project_tiers: dict[str, str] = {}
        self.overrides: dict[tuple[str, str], dict[str, int | None]] = {}
        self.faults = FaultQueue()
        self.book = QuotaBook()
        self._response_counter = 0

    # time and pacing -------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def set_pacing(self, ttft_s: float | None = None, tokens_per_s: float | None = None) -> None:
        if ttft_s is not None:
            if ttft_s < 0:
                raise ValueError("ttft_s must be >= 0")
            self.ttft_s = float(ttft_s)
        if tokens_per_s is not None:
            if tokens_per_s <= 0:
                raise ValueError("tokens_per_s must be positive")
            self.tokens_per_s = float(tokens_per_s)

    def real_delay(self, emu_seconds: float) -> float:
        return self.clock.real_seconds(emu_seconds)

    # keys, tiers, limits ---------------------------------------------------------------------------------
    def add_key(self, key: str, project: str, status: str = "valid") -> None:
        if status not in KEY_STATUSES:
            raise ValueError(f"unknown key status {status!r}; expected one of {', '.join(KEY_STATUSES)}")
        with self.lock:
            self.keys[key] = KeyInfo(project, status)

    def lookup_key(self, key: str) -> KeyInfo | None:
        with self.lock:
            return self.keys.get(key)

    def tier_of(self, project: str) -> str:
        with self.lock:
            return self.project_tiers.get(project, self.default_tier)

    def set_tier(self, project: str, tier: str) -> None:
        with self.lock:
            self.project_tiers[project] = check_tier(tier)

    def set_limits(self, model: str, tier: str, rpm: int | None = None, tpm: int | None = None,
                   rpd: int | None = None, ipm: int | None = None) -> None:
        check_tier(tier)
        model = self._model_id(model)
        with self.lock:
            slot = self.overrides.setdefault((model, tier), {})
            for dim, value in zip(DIMENSIONS, (rpm, tpm, rpd, ipm), strict=True):
                if value is not None:
                    slot[dim] = None if value < 0 else int(value)

    def limits_for(self, model: str, tier: str) -> Limits:
        info = catalogue.find(model)
        if info is None:
            raise ValueError(f"unknown model {model!r}")
        base = TABLE[info.family][tier]
        with self.lock:
            extra = self.overrides.get((info.name, tier))
        return base.with_overrides(**extra) if extra else base

    # quota -----------------------------------------------------------------------------------------------
    def admit(self, project: str, model: str, tokens: int, images: int) -> tuple[str, list[Violation]]:
        """(tier, violations); books the request when violations is empty."""
        with self.lock:
            tier = self.tier_of(project)
            limits = self.limits_for(model, tier)
            return tier, self.book.admit(project, model, limits, tokens, images, self.now())

    @staticmethod
    def _model_id(model: str) -> str:
        info = catalogue.find(model)
        if info is None:
            raise ValueError(f"unknown model {model!r}")
        return info.name

    def add_invisible_usage(self, project: str, model: str, requests: int = 1, input_tokens: int = 0) -> None:
        model = self._model_id(model)
        with self.lock:
            self.book.add_invisible(project, model, int(requests), int(input_tokens), self.now())

    def set_ghost(self, project: str, model: str, rpm: float = 2.0, input_tokens: int = 1000) -> None:
        model = self._model_id(model)
        with self.lock:
            self.book.set_ghost(project, model, float(rpm), int(input_tokens), self.now())

    def counters(self) -> dict:
        with self.lock:
            return self.book.counters(self.now())

    # faults ----------------------------------------------------------------------------------------------
    def set_fault(self, kind: str, count: int = 1, after_chunks: int = 2, seconds: float = 5.0,
                  model: str | None = None) -> None:
        with self.lock:
            self.faults.arm(kind, count=count, after_chunks=after_chunks, seconds=seconds, model=model)

    def take_fault(self, model: str, streaming: bool, consume: bool) -> Fault | None:
        with self.lock:
            fault = self.faults.peek(model, streaming)
            if fault is not None and consume:
                self.faults.consume(fault)
            return fault

    def consume_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.consume(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset(self, everything: bool = False) -> None:
        with self.lock:
            self.book.clear()
            self.faults.clear()
            if everything:  # back to how the constructor left it (shared test servers)
                self.keys = {k: KeyInfo(p) for k, p in self._initial_keys.items()}
                self.project_tiers.clear()
                self.overrides.clear()
                self.ttft_s, self.tokens_per_s = self._initial_pacing

    def next_response_id(self) -> int:
        with self.lock:
            self._response_counter += 1
            return self._response_counter
