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
from gemtui.emulator.openai_compat import OpenAISide
from gemtui.emulator.quota import QuotaBook, Violation
from gemtui.emulator.relay import RELAY_FAULT_KINDS, RelayConfig, check_prefix, parse_header
from gemtui.emulator.request_log import RequestLog
from gemtui.emulator.request_log import describe as describe_request

KEY_STATUSES = ("valid", "invalid", "forbidden")
GENERATION_LOG_SIZE = 1000  # generate requests the generation log keeps (the latest)
UNLIMITED = -1  # pass to set_limits() to lift a limit; None there means "leave as is"


@dataclass(frozen=True)
class KeyInfo:
    project: str
    status: str = "valid"


class EmulatorState:
    def __init__(
        self,
        tier: str = "free",
        speed: float = 1.0,
        epoch: float | None = None,
        clock: Callable[[], float] | None = None,
        ttft_s: float = 0.3,
        tokens_per_s: float = 250.0,
        keys: dict[str, str] | None = None,
        seed: int = 0,
        models: str | tuple[str, ...] | list[str] = "default",
    ) -> None:
        self.lock = threading.RLock()
        self.models: tuple[catalogue.ModelInfo, ...] = catalogue.model_list(models)
        self._initial_models = self.models
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
        self.relay_faults = FaultQueue(RELAY_FAULT_KINDS)
        self.relay: RelayConfig | None = None
        self.relay_counts: dict[str, int] = {}
        self.book = QuotaBook()
        self.openai = OpenAISide()  # the OpenAI-compatible side: its own per-key windows
        self._response_counter = 0
        self._generation_log: list[dict] = []
        self.request_log = RequestLog()

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

    def set_limits(
        self,
        model: str,
        tier: str,
        rpm: int | None = None,
        tpm: int | None = None,
        rpd: int | None = None,
        ipm: int | None = None,
    ) -> None:
        check_tier(tier)
        model = self._model_id(model)
        with self.lock:
            slot = self.overrides.setdefault((model, tier), {})
            for dim, value in zip(DIMENSIONS, (rpm, tpm, rpd, ipm), strict=True):
                if value is not None:
                    slot[dim] = None if value < 0 else int(value)

    def set_models(self, models: str | tuple[str, ...] | list[str]) -> None:
        """Serve this model list (a preset name, comma-separated ids, or ids) from now on."""
        chosen = catalogue.model_list(models)
        with self.lock:
            self.models = chosen

    def find_model(self, model: str) -> catalogue.ModelInfo | None:
        """The served model `model` names, or None (a 404 on the wire)."""
        with self.lock:
            return catalogue.find(model, self.models)

    def limits_for(self, model: str, tier: str) -> Limits:
        info = self.find_model(model)
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

    def _model_id(self, model: str) -> str:
        info = self.find_model(model)
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

    # what generate requests asked for ---------------------------------------------------------------------
    def note_generation(self, entry: dict) -> None:
        """Log one generate request's model, system instruction and generation config (tests read it)."""
        with self.lock:
            self._generation_log.append(entry)
            del self._generation_log[:-GENERATION_LOG_SIZE]

    def generation_log(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self._generation_log]

    # faults ----------------------------------------------------------------------------------------------
    def set_fault(
        self,
        kind: str,
        count: int = 1,
        after_chunks: int = 2,
        seconds: float = 5.0,
        model: str | None = None,
        echo: str = "",
    ) -> None:
        queue = self.relay_faults if kind in RELAY_FAULT_KINDS else self.faults
        with self.lock:
            try:
                queue.arm(kind, count=count, after_chunks=after_chunks, seconds=seconds, model=model, echo=echo)
            except ValueError:
                kinds = ", ".join(self.faults.kinds + self.relay_faults.kinds)
                raise ValueError(f"unknown fault {kind!r}; expected one of {kinds}") from None

    def pending_faults(self) -> list[dict]:
        with self.lock:
            return self.faults.pending() + self.relay_faults.pending()

    # relay mode ------------------------------------------------------------------------------------------
    def set_relay(
        self, prefix: str = "", header: str | tuple[str, str] | None = None, query: dict[str, str] | str | None = None
    ) -> RelayConfig:
        """Put the pretend relay in front: a path prefix, a required header, required query parameters."""
        if isinstance(header, str):
            header = parse_header(header)
        elif header is not None:
            header = (str(header[0]), str(header[1]))
        if isinstance(query, str):
            pairs = [item.partition("=") for item in query.split("&") if item]
            if any(not sep or not name for name, sep, _ in pairs):
                raise ValueError(f"relay query wants name=value[&name=value], got {query!r}")
            query = {name: value for name, _, value in pairs}
        relay = RelayConfig(check_prefix(prefix), header, dict(query or {}))
        with self.lock:
            self.relay = relay
        return relay

    def clear_relay(self) -> None:
        with self.lock:
            self.relay = None

    def take_relay_fault(self, model: str, streaming: bool) -> Fault | None:
        with self.lock:
            fault = self.relay_faults.peek(model, streaming)
            if fault is not None:
                self.relay_faults.consume(fault)
            return fault

    def count_relay(self, status: int) -> None:
        """Tally what the relay did: 0 = passed a request on, else the status it answered itself."""
        name = "passed" if status == 0 else str(status)
        with self.lock:
            self.relay_counts[name] = self.relay_counts.get(name, 0) + 1

    def relay_status(self) -> dict:
        with self.lock:
            return {"relay": self.relay.describe() if self.relay else None, "counts": dict(self.relay_counts)}

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
            self.relay_faults.clear()

    def log_request(self, method: str, model: str, body: dict) -> None:
        with self.lock:
            self.request_log.add(describe_request(method, model, body))

    def requests(self) -> list[dict]:
        with self.lock:
            return self.request_log.entries()

    def reset(self, everything: bool = False) -> None:
        with self.lock:
            self.book.clear()
            self.request_log.clear()
            self.openai.reset()
            self.faults.clear()
            self.relay_faults.clear()
            self.relay_counts.clear()
            self._generation_log.clear()
            if everything:  # back to how the constructor left it (shared test servers)
                self.relay = None
                self.keys = {k: KeyInfo(p) for k, p in self._initial_keys.items()}
                self.project_tiers.clear()
                self.overrides.clear()
                self.ttft_s, self.tokens_per_s = self._initial_pacing
                self.models = self._initial_models
                self.openai = OpenAISide()

    def next_response_id(self) -> int:
        with self.lock:
            self._response_counter += 1
            return self._response_counter
