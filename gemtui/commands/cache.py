"""`gemtui cache`: how the response cache stands (`stats`, the default) or forget every answer (`clear`)."""

from __future__ import annotations

import argparse
import json
import sys

from gemtui import exitcodes


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="response cache: answers kept, times served, tokens not spent; or clear it",
        description="The response cache answers an identical question again without sending it "
        "(ask --cache, every --batch, /cache on). `stats` shows what it holds; `clear` forgets it.",
    )
    parser.add_argument("action", nargs="?", choices=("stats", "clear"), default="stats")
    parser.add_argument("--json", action="store_true", help="stats: machine-readable output")


def run(args: argparse.Namespace) -> int:
    from gemtui.chat.response_cache import CacheUse
    from gemtui.commands._runtime import require_config

    use = CacheUse.from_config(require_config())
    try:
        cache = use.open(create=False)  # looking never creates the file
        for warning in cache.warnings if cache is not None else ():
            print(f"gemtui: warning: {warning}", file=sys.stderr)
        if args.action == "clear":
            print(f"gemtui: response cache cleared ({use.clear()} answers forgotten)", file=sys.stderr)
            return exitcodes.EXIT_OK
        stats = cache.stats() if cache is not None else None
        figures = {
            "path": str(use.path),
            "enabled_for_chat": use.enabled,
            "entries": stats.entries if stats else 0,
            "bytes": stats.bytes if stats else 0,
            "hits": stats.hits if stats else 0,
            "tokens_saved": stats.tokens_saved if stats else 0,
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(
                f"response cache {figures['path']}: {figures['entries']} answers, {figures['bytes'] / 1024:.0f} KiB; "
                f"served {figures['hits']} times, {figures['tokens_saved']:,} tokens not spent; "
                f"chat {'on' if use.enabled else 'off'} by default ([cache] enabled)"
            )
        return exitcodes.EXIT_OK
    finally:
        use.close()
