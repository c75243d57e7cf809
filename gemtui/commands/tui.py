"""`gemtui` with no sub-command: the chat app (the Textual UI lands with its own issue)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # not a listed sub-command
    return None


def run(args: argparse.Namespace) -> int:
    print(
        "gemtui: the full-screen chat app is not built yet; use `gemtui ask --demo \"hello\"` "
        "or `gemtui ask \"PROMPT\"` with GEMINI_API_KEY set (see `gemtui --help`).",
        file=sys.stderr,
    )
    return 2
