"""`gemtui emulator`: serve the bundled Gemini API emulator on loopback until Ctrl-C.

Only argparse and the standard library at module level: `gemtui --help` builds every sub-parser, and
must not pay for starlette/uvicorn. The emulator itself is imported in `run()`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

TIERS = ("free", "tier1", "tier2", "tier3")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "emulator",
        help="serve the bundled Gemini API emulator on loopback",
        description="Serve a local Gemini API emulator (generate, stream, countTokens, models; quotas with "
        "real 429 bodies; injectable faults; a relay mode). Point a client at it with base URL "
        "http://HOST:PORT and api version v1 or v1beta.",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument("--tier", choices=TIERS, default="free", help="default tier of every project")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="emulator seconds per real second (windows and pacing run this much faster)",
    )
    p.add_argument("--ttft", type=float, default=0.3, metavar="S", help="time to first token, emulator s")
    p.add_argument("--tps", type=float, default=250.0, metavar="N", help="output tokens per emulator second")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY=PROJECT",
        help="accept KEY for PROJECT (repeatable; default demo-key=demo)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:COUNT]",
        help="arm a fault for the next COUNT generate requests (repeatable)",
    )
    p.add_argument(
        "--ghost",
        action="append",
        default=[],
        metavar="PROJECT:MODEL:RPM",
        help="another client using PROJECT's MODEL quota at RPM requests/minute (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated answers")
    p.add_argument(
        "--models",
        default="default",
        metavar="LIST",
        help="models to serve: default (the 2.5 family newest), current (Gemini 3 too), or comma-separated ids",
    )
    p.add_argument(
        "--openai-rpm",
        type=int,
        metavar="N",
        help="OpenAI-compatible side (/v1/chat/completions): requests per key and window (default 60; -1: no limit)",
    )
    p.add_argument(
        "--openai-tpm",
        type=int,
        metavar="N",
        help="OpenAI-compatible side: prompt tokens per key and window (default 100000; -1: no limit)",
    )
    p.add_argument(
        "--openai-window", type=float, metavar="S", help="OpenAI-compatible side: window, emulator s (default 60)"
    )
    p.add_argument(
        "--relay-prefix", metavar="PATH", help="relay mode: serve the API only under PATH (e.g. /relay/acc-TOKEN)"
    )
    p.add_argument(
        "--relay-header", metavar="'NAME: VALUE'", help="relay mode: refuse requests without this header (HTML 401)"
    )
    p.add_argument(
        "--relay-query",
        metavar="NAME=VALUE[&...]",
        help="relay mode: refuse requests without these query parameters (HTML 403)",
    )


def _parse_keys(items: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for item in items:
        key, sep, project = item.partition("=")
        if not sep or not key or not project:
            raise ValueError(f"--key wants KEY=PROJECT, got {item!r}")
        keys[key] = project
    return keys or {"demo-key": "demo"}


def _parse_fault(item: str) -> tuple[str, int]:
    kind, _, count = item.partition(":")
    try:
        return kind, int(count) if count else 1
    except ValueError:
        raise ValueError(f"--fault wants KIND[:COUNT], got {item!r}") from None


def _parse_ghost(item: str) -> tuple[str, str, float]:
    parts = item.split(":")
    if len(parts) != 3:
        raise ValueError(f"--ghost wants PROJECT:MODEL:RPM, got {item!r}")
    try:
        return parts[0], parts[1], float(parts[2])
    except ValueError:
        raise ValueError(f"--ghost wants a number for RPM, got {item!r}") from None


def run(args: argparse.Namespace) -> int:
    from gemtui.emulator import Emulator
    from gemtui.emulator.server import is_loopback_host

    if not is_loopback_host(args.host):
        print(f"gemtui emulator: refusing to listen on {args.host}: the emulator serves loopback only", file=sys.stderr)
        return 2
    try:
        keys = _parse_keys(args.key)
        faults = [_parse_fault(item) for item in args.fault]
        ghosts = [_parse_ghost(item) for item in args.ghost]
        emu = Emulator(
            tier=args.tier,
            host=args.host,
            port=args.port,
            speed=args.speed,
            ttft_s=args.ttft,
            tokens_per_s=args.tps,
            keys=keys,
            seed=args.seed,
            models=args.models,
        )
        for kind, count in faults:
            emu.set_fault(kind, count=count)
        emu.set_openai_limits(
            requests=args.openai_rpm if args.openai_rpm is not None else "keep",
            tokens=args.openai_tpm if args.openai_tpm is not None else "keep",
            window_s=args.openai_window,
        )
        for project, model, rpm in ghosts:
            emu.set_ghost(project, model, rpm=rpm)
        if args.relay_prefix or args.relay_header or args.relay_query:
            emu.set_relay(prefix=args.relay_prefix or "", header=args.relay_header, query=args.relay_query)
    except ValueError as exc:
        print(f"gemtui emulator: {exc}", file=sys.stderr)
        return 2
    # Both signals are handled here, not left to Python's default: a process started in the background
    # of a non-interactive shell inherits SIGINT ignored, and Ctrl-C (or `kill -INT`) must still stop it.
    # The handlers are in place before the "listening" line: whoever reads it may signal at once.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(emu, args, keys, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(emu: Any, args: argparse.Namespace, keys: dict[str, str], stop: threading.Event) -> int:
    try:
        emu.start()
    except (OSError, RuntimeError) as exc:
        print(f"gemtui emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        shown = ", ".join(f"{k}→{p}" for k, p in keys.items())
        relay = f"; relay prefix {args.relay_prefix}" if args.relay_prefix else ""
        print(f"gemtui emulator: listening on {emu.base_url} (tier {args.tier}; keys: {shown}{relay})", flush=True)
        print(f"gemtui emulator: OpenAI-compatible side at {emu.openai_base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0
