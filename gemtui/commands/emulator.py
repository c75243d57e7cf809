"""`gemtui emulator`: serve the bundled Gemini API emulator on loopback until Ctrl-C.

Only argparse and the standard library at module level: `gemtui --help` builds every sub-parser, and
must not pay for starlette/uvicorn. The emulator itself is imported in `run()`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

TIERS = ("free", "tier1", "tier2", "tier3")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "emulator",
        help="serve the bundled Gemini API emulator on loopback",
        description="Serve a local Gemini API emulator (generate, stream, countTokens, models; quotas with "
                    "real 429 bodies; injectable faults). Point a client at it with base URL "
                    "http://HOST:PORT and api version v1 or v1beta.",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument("--tier", choices=TIERS, default="free", help="default tier of every project")
    p.add_argument("--speed", type=float, default=1.0,
                   help="emulator seconds per real second (windows and pacing run this much faster)")
    p.add_argument("--ttft", type=float, default=0.3, metavar="S", help="time to first token, emulator s")
    p.add_argument("--tps", type=float, default=250.0, metavar="N", help="output tokens per emulator second")
    p.add_argument("--key", action="append", default=[], metavar="KEY=PROJECT",
                   help="accept KEY for PROJECT (repeatable; default demo-key=demo)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:COUNT]",
                   help="arm a fault for the next COUNT generate requests (repeatable)")
    p.add_argument("--ghost", action="append", default=[], metavar="PROJECT:MODEL:RPM",
                   help="another client using PROJECT's MODEL quota at RPM requests/minute (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated answers")


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
        print(f"gemtui emulator: refusing to listen on {args.host}: the emulator serves loopback only",
              file=sys.stderr)
        return 2
    try:
        keys = _parse_keys(args.key)
        faults = [_parse_fault(item) for item in args.fault]
        ghosts = [_parse_ghost(item) for item in args.ghost]
        emu = Emulator(tier=args.tier, host=args.host, port=args.port, speed=args.speed, ttft_s=args.ttft,
                       tokens_per_s=args.tps, keys=keys, seed=args.seed)
        for kind, count in faults:
            emu.set_fault(kind, count=count)
        for project, model, rpm in ghosts:
            emu.set_ghost(project, model, rpm=rpm)
    except ValueError as exc:
        print(f"gemtui emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emu.start()
    except (OSError, RuntimeError) as exc:
        print(f"gemtui emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    shown = ", ".join(f"{k}→{p}" for k, p in keys.items())
    print(f"gemtui emulator: listening on {emu.base_url} (tier {args.tier}; keys: {shown})", flush=True)

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emu.stop()
    return 0
