"""`gemtui ask`: one prompt (or a batch file) answered on stdout, waits and switches told on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gemtui import exitcodes
from gemtui.commands._runtime import add_common_options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="ask one question (or a batch) without the full-screen app",
        description="Stream an answer to stdout. The prompt comes from the argument or from stdin.",
    )
    parser.add_argument("prompt", nargs="?", help="the prompt; omit (or '-') to read it from stdin")
    add_common_options(parser)
    parser.add_argument("--system", help="system instruction for this request")
    parser.add_argument("--on-limit", choices=("switch", "wait"), help="auto mode at a limit: switch model or wait")
    parser.add_argument("--wait-threshold", type=float, metavar="S", help="auto: switch when Pro waits longer")
    parser.add_argument("--max-output-tokens", type=int, metavar="N")
    parser.add_argument("--session", metavar="NAME", help="continue (or start) a stored conversation")
    parser.add_argument("--batch", metavar="FILE", help="one prompt per line, or JSONL with a 'prompt' field")
    parser.add_argument("--out", metavar="FILE", help="batch: write JSONL results here instead of stdout")


def _read_prompt(args: argparse.Namespace) -> str:
    if args.prompt and args.prompt != "-":
        return args.prompt
    if sys.stdin is None or sys.stdin.isatty():
        raise ValueError("no prompt: give one as an argument or on stdin")
    return sys.stdin.read()


def run(args: argparse.Namespace) -> int:
    from gemtui.commands._runtime import require_config, require_runtime

    config = require_config()
    if args.batch:
        from gemtui.commands._batch import run_batch_command

        return run_batch_command(args, config)
    try:
        prompt = _read_prompt(args)
    except ValueError as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if not prompt.strip():
        print("gemtui: the prompt is empty", file=sys.stderr)
        return exitcodes.EXIT_USAGE

    opened = require_runtime(args, config)
    try:
        for warning in opened.runtime.engine.warnings:
            print(f"gemtui: warning: {warning}", file=sys.stderr)
        from gemtui.commands._ask_stream import ask_once

        return asyncio.run(ask_once(opened.runtime, prompt, args, config))
    finally:
        opened.close()
