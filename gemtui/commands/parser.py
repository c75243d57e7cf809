"""The whole argument parser: global options and every sub-command's own. Built here, below the
entry point, so a sub-command (completion) can read the parser it belongs to."""

from __future__ import annotations

import argparse

from gemtui import __version__
from gemtui.commands import COMMAND_MODULES, load_command
from gemtui.exitcodes import describe_exit_codes


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
    parser.add_argument("--debug", action="store_true", help="write debug detail to the log file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        load_command(name).add_parser(subparsers)
    return parser
