"""`gemtui` with no sub-command: the full-screen chat app (`--demo` runs it against the bundled emulator).

The key is resolved before the screen opens, so a missing one is a one-line message on the terminal,
not an empty app. Everything slow (emulator start, google.genai) happens after the first frame. A
crash ends with status 1 and one line; its traceback is in the log file (`gemtui.log`).
"""

from __future__ import annotations

import argparse
import sys

from gemtui import exitcodes


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # not a listed sub-command
    return None


def run(args: argparse.Namespace) -> int:
    from gemtui.commands._runtime import require_config

    config = require_config()
    demo = bool(getattr(args, "demo", False))
    if not demo:
        from gemtui.auth.errors import AuthError
        from gemtui.auth.resolve import resolve_profile

        try:
            resolve_profile(getattr(args, "profile", None), config=config)
        except AuthError as exc:
            print(f"gemtui: {exc}", file=sys.stderr)
            print(
                "gemtui: try `gemtui --demo` (no key needed), `gemtui auth add NAME`, or set GEMINI_API_KEY",
                file=sys.stderr,
            )
            return exitcodes.EXIT_AUTH

    def opener():
        from gemtui.commands._runtime import open_runtime

        return open_runtime(args, config, resolve_models=False)  # the app resolves them off its UI thread

    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(
        opener, config=config, resume=getattr(args, "resume", None), model=getattr(args, "model", None), demo=demo
    )
    result = app.run()
    return exit_status(app, result)


def exit_status(app: object, result: object) -> int:
    """The process's status after the app stopped: a crash is 1 and one line on the terminal pointing
    at the log file (which holds the traceback); otherwise what the app exited with."""
    crashed = getattr(app, "crashed", None)
    if crashed is None:
        return int(result or 0)  # type: ignore[call-overload]
    from gemtui import log
    from gemtui.errors import one_line
    from gemtui.quota.ledger_fallback import LedgerUnreachable

    log.flush()
    if isinstance(crashed, LedgerUnreachable):  # [ledger] on_unreachable = "stop": the queue was settled
        print(f"gemtui: {one_line(crashed, log.known_secrets())}", file=sys.stderr)
        return exitcodes.EXIT_LEDGER
    print(f"gemtui: crashed: {one_line(crashed, log.known_secrets())} (details in {log.log_path()})", file=sys.stderr)
    return exitcodes.EXIT_ERROR
