"""Faults injected on demand: each armed fault spoils the next `count` matching generate/stream requests."""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = (
    "overloaded",
    "internal",
    "bare_429",
    "stream_error",
    "cut_stream",
    "slow_first_byte",
    "html_page",
    "foreign_json",
)
STREAM_ONLY = ("stream_error", "cut_stream")  # a plain generateContent has no stream to break


@dataclass
class Fault:
    kind: str
    count: int = 1
    after_chunks: int = 2
    seconds: float = 5.0
    model: str | None = None
    echo: str = ""  # text the server repeats in its answer (a careless relay echoing a credential)

    def matches(self, model: str, streaming: bool) -> bool:
        if self.count <= 0:
            return False
        if self.model is not None and self.model.removeprefix("models/") != model:
            return False
        return streaming or self.kind not in STREAM_ONLY


class FaultQueue:
    """First armed, first applied; callers hold the emulator's lock."""

    def __init__(self, kinds: tuple[str, ...] = FAULT_KINDS) -> None:
        self.kinds = kinds
        self._faults: list[Fault] = []

    def arm(
        self,
        kind: str,
        count: int = 1,
        after_chunks: int = 2,
        seconds: float = 5.0,
        model: str | None = None,
        echo: str = "",
    ) -> Fault:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(self.kinds)}")
        if count < 1 or after_chunks < 0 or seconds < 0:
            raise ValueError("fault count must be >= 1, after_chunks and seconds >= 0")
        fault = Fault(kind, int(count), int(after_chunks), float(seconds), model, str(echo or ""))
        self._faults.append(fault)
        return fault

    def peek(self, model: str, streaming: bool) -> Fault | None:
        return next((f for f in self._faults if f.matches(model, streaming)), None)

    def consume(self, fault: Fault) -> None:
        fault.count -= 1
        if fault.count <= 0 and fault in self._faults:
            self._faults.remove(fault)

    def pending(self) -> list[dict]:
        return [
            {
                "kind": f.kind,
                "count": f.count,
                "after_chunks": f.after_chunks,
                "seconds": f.seconds,
                "model": f.model,
                "echo": f.echo,
            }
            for f in self._faults
        ]

    def clear(self) -> None:
        self._faults.clear()
