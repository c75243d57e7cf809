"""The `gemtui` command line: parses arguments and hands each sub-command to its module.

Nothing heavy is imported here: `--help` and `--version` must answer without loading google.genai
or textual (a test checks `sys.modules`). Each sub-command module keeps its own imports lazy too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gemtui import __version__
from gemtui.commands import COMMAND_MODULES, load_command
from gemtui.commands._runtime import CommandExit
from gemtui.exitcodes import EXIT_USAGE, describe_exit_codes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gemtui",
        description="Chat with Gemini in the terminal without ever being surprised by a rate limit.",
        epilog=describe_exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gemtui {__version__}")
    parser.add_argument("--demo", action="store_true", help="chat against the bundled emulator (no key needed)")
    parser.add_argument("--resume", nargs="?", const="", metavar="SESSION", help="reopen a stored conversation")
    parser.add_argument("--profile", help="send as this profile (see `gemtui auth list`)")
    parser.add_argument("--model", help="auto (default), pro, flash, lite or a full model id")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        load_command(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return load_command("tui").run(args)
        return load_command(args.command).run(args)
    except CommandExit as stop:
        return stop.code
    except KeyboardInterrupt:
        print("gemtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except SystemExit:
        raise
    except Exception as exc:  # last line of defence: one line, never a traceback
        from gemtui.errors import one_line

        print(f"gemtui: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else 1


if __name__ == "__main__":
    raise SystemExit(main())
