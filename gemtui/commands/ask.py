"""`gemtui ask`: one prompt (or a batch file) answered on stdout, waits and switches told on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gemtui import exitcodes
from gemtui.commands._runtime import add_common_options, add_header_option


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="ask one question (or a batch) without the full-screen app",
        description="Stream an answer to stdout. The prompt comes from the argument or from stdin.",
    )
    parser.add_argument("prompt", nargs="?", help="the prompt; omit (or '-') to read it from stdin")
    add_common_options(parser)
    add_header_option(parser)
    parser.add_argument("--system", help="system instruction for this request (with --session: stored with it)")
    parser.add_argument("--on-limit", choices=("switch", "wait"), help="auto mode at a limit: switch model or wait")
    parser.add_argument("--wait-threshold", type=float, metavar="S", help="auto: switch when Pro waits longer")
    parser.add_argument(
        "--max-output",
        "--max-output-tokens",
        dest="max_output_tokens",
        metavar="N",
        help="most tokens in the answer (1 up to the model's output limit)",
    )
    parser.add_argument("--temperature", metavar="T", help="sampling temperature, 0 to 2")
    parser.add_argument("--top-p", dest="top_p", metavar="P", help="nucleus sampling, 0 to 1")
    parser.add_argument(
        "--thinking-budget",
        dest="thinking_budget",
        metavar="N",
        help="thinking tokens: -1 dynamic, 0 off (not on Pro), or up to 32768",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="after the answer, print its model, tokens (thinking included) and time on stderr",
    )
    parser.add_argument("--session", metavar="NAME", help="continue (or start) a stored conversation")
    parser.add_argument(
        "-a",
        "--attach",
        action="append",
        default=[],
        metavar="PATH",
        help="send this file with the prompt (repeatable): text, PNG/JPEG/WEBP/HEIC/HEIF or PDF",
    )
    parser.add_argument(
        "--out-dir", metavar="DIR", help="save images an answer carries here (default: the data dir's images/)"
    )
    parser.add_argument("--batch", metavar="FILE", help="one prompt per line, or JSONL with a 'prompt' field")
    parser.add_argument("--out", metavar="FILE", help="batch: write JSONL results here instead of stdout")
    parser.add_argument(
        "--resume",
        dest="resume_batch",
        action="store_true",
        help="batch: send only the prompts --out FILE has no answer for (a rerun does this anyway)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="batch: start over; the earlier --out FILE is moved aside, not appended to",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        dest="cache",
        action="store_true",
        default=None,
        help="answer an identical earlier question from the response cache, and keep this answer "
        "(on by default for --batch)",
    )
    cache.add_argument(
        "--no-cache", dest="cache", action="store_false", help="neither read nor write the response cache"
    )


def _read_prompt(args: argparse.Namespace) -> tuple[str, str | None]:
    """(the prompt, piped text to attach): with a prompt given, text piped on stdin is attached to it
    (`git diff | gemtui ask "review this"`); without one, stdin is the prompt."""
    from gemtui.textin import read_stdin

    piped = sys.stdin is not None and not _is_terminal(sys.stdin)
    if args.prompt and args.prompt != "-":
        return args.prompt, (_piped_text(sys.stdin) if piped else None)
    if not piped:
        raise ValueError("no prompt: give one as an argument or on stdin")
    return read_stdin(sys.stdin), None  # BadText (a ValueError): one line naming the byte offset


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return True  # closed or unusable: nothing to read


def _piped_text(stream) -> str | None:
    """stdin's text, or None when nothing can be read from it (closed, or a test runner's stand-in)."""
    from gemtui.textin import BadText, read_stdin

    try:
        text = read_stdin(stream)
    except BadText:
        raise
    except (OSError, ValueError):
        return None
    return text if text.strip() else None


def _attachments(args: argparse.Namespace, piped: str | None) -> tuple:
    """The files of `-a` and the piped text, read and checked now: a refusal costs nothing."""
    from gemtui.chat.attachments import check_request, from_stdin_text, load

    attached = [load(path) for path in args.attach]
    if piped is not None:
        attached.append(from_stdin_text(piped))
    check_request(attached)
    return tuple(attached)


def run(args: argparse.Namespace) -> int:
    from gemtui.commands._runtime import require_config, require_runtime

    config = require_config()
    try:
        from gemtui.commands._ask_stream import check_settings

        check_settings(args, config)
    except ValueError as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if args.batch:
        from gemtui.commands._batch import run_batch_command

        if args.attach:
            print("gemtui: -a/--attach goes with one prompt, not with --batch", file=sys.stderr)
            return exitcodes.EXIT_USAGE

        return run_batch_command(args, config)
    try:
        prompt, piped = _read_prompt(args)
        attachments = _attachments(args, piped)
    except ValueError as exc:  # BadText, AttachmentError: one line naming the input and why
        print(f"gemtui: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if not prompt.strip():
        print("gemtui: the prompt is empty", file=sys.stderr)
        return exitcodes.EXIT_USAGE

    opened = require_runtime(args, config)
    try:
        from gemtui.commands._ask_stream import ask_once

        return asyncio.run(ask_once(opened.runtime, prompt, args, config, attachments))
    finally:
        opened.close()
        _close_ledgers(opened.runtime)


def _close_ledgers(runtime) -> None:
    """Close the ledger connections now: left to the garbage collector, a WAL database's side files
    vanish at some random later moment (in-process callers, tests, scanning the data dir see that)."""
    for rt in (runtime, runtime.backup):
        if rt is not None:
            rt.engine.close()
