"""The bundled emulator in a process of its own, for the goodput benchmark.

    python -m benchmarks.goodput.server '<json config>'

Config: {"speed", "epoch", "mono0", "ttft_s", "tokens_per_s", "keys": {key: project}, "memo": bool}.
Prints one JSON line {"base_url": ...} once it listens, then serves until its stdin closes.

Why a process of its own: the benchmark runs the emulator's time 60x faster than real time, so every
millisecond the server spends is 60 ms of simulated time. In the benchmark's own process the server thread
and the clients fight over one GIL; here the server gets its own core.

Time: the emulator reads `epoch + (time.monotonic() - mono0) * speed`, the same formula as the client's
`ScaledClock(speed, epoch)` started at `mono0` (CLOCK_MONOTONIC is system-wide on Linux), so both sides
agree on simulated time to within microseconds of real time.

`memo`: the emulator tokenizes every generate request (also the ones it then refuses with a 429) in pure
Python, about 1 microsecond a token: a 100k-token prompt holds the server's event loop ~0.1 s of real time,
6 s of simulated time, and every other client's request queues behind it. With `memo`, the tokenizer's
`count_contents` is wrapped in a cache keyed by the request's texts: the counts are the emulator's own,
unchanged (the function is pure), each distinct prompt is tokenized once (the benchmark warms the cache with
`countTokens` while it measures the prompts). Only text-only requests are cached.
"""

from __future__ import annotations

import json
import sys
import time


def _memoize_tokenizer() -> None:
    import gemtui.emulator.app as app_module

    original = app_module.count_contents
    cache: dict[tuple, tuple[int, int]] = {}

    def key_of(contents: object, system: object) -> tuple | None:
        texts: list[object] = []
        for content in list(contents or []) + ([system] if system is not None else []):
            if not isinstance(content, dict):
                return None
            texts.append(content.get("role"))
            for part in content.get("parts") or []:
                if not isinstance(part, dict) or set(part) != {"text"} or not isinstance(part["text"], str):
                    return None
                texts.append(part["text"])
        return tuple(texts)

    def count_contents(contents, system_instruction=None):
        key = key_of(contents, system_instruction)
        if key is None:
            return original(contents, system_instruction)
        hit = cache.get(key)
        if hit is None:
            hit = original(contents, system_instruction)
            if len(cache) > 20_000:
                cache.clear()
            cache[key] = hit
        return hit

    app_module.count_contents = count_contents


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("memo", True):
        _memoize_tokenizer()
    from gemtui.emulator import Emulator

    speed, epoch, mono0 = float(config["speed"]), float(config["epoch"]), float(config["mono0"])

    def clock() -> float:
        return epoch + (time.monotonic() - mono0) * speed

    emu = Emulator(
        tier="free",
        speed=speed,
        clock=clock,
        ttft_s=float(config["ttft_s"]),
        tokens_per_s=float(config["tokens_per_s"]),
        keys=dict(config["keys"]),
        seed=0,
    )
    emu.start()
    print(json.dumps({"base_url": emu.base_url}), flush=True)
    try:
        sys.stdin.read()
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
