"""The `gemtui` command line: parses arguments and hands each sub-command to its module.

Nothing heavy is imported here: `--help` and `--version` must answer without loading google.genai
or textual (a test checks `sys.modules`). Each sub-command module keeps its own imports lazy too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gemtui.commands import load_command
from gemtui.commands._runtime import CommandExit
from gemtui.commands.parser import build_parser
from gemtui.exitcodes import EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    from gemtui.textin import BadText, check_arguments

    try:
        check_arguments(sys.argv[1:] if argv is None else argv)
    except BadText as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    from gemtui import log

    try:
        log.setup(debug=bool(args.debug))
    except OSError as exc:  # an unwritable state dir costs the log file, not the command
        print(f"gemtui: no log file ({exc.strerror or exc})", file=sys.stderr)
    stop_speaking = _print_store_warnings() if args.command not in (None, "tui") else None
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
        import sqlite3

        from gemtui.diskfull import is_disk_full, is_write_failure, why
        from gemtui.errors import one_line
        from gemtui.quota.ledger_fallback import LedgerUnreachable

        if isinstance(exc, LedgerUnreachable):  # [ledger] on_unreachable = "stop": its own status, one line
            from gemtui.exitcodes import EXIT_LEDGER

            print(f"gemtui: {one_line(exc, log.known_secrets())}", file=sys.stderr)
            return EXIT_LEDGER
        log.get_logger(__name__).exception("gemtui %s stopped on an unexpected error", args.command or "tui")
        log.flush()
        if is_disk_full(exc) or isinstance(exc, sqlite3.OperationalError) and is_write_failure(exc):
            # A store could not even be opened or reserved in (a full disk): the documented status.
            from gemtui.exitcodes import EXIT_NOT_SAVED

            print(f"gemtui: could not write to gemtui's data folder: {why(exc)}", file=sys.stderr)
            return EXIT_NOT_SAVED
        print(f"gemtui: {one_line(exc, log.known_secrets())} (details in {log.log_path()})", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else 1
    finally:
        if stop_speaking is not None:
            stop_speaking()


def _print_store_warnings():
    """A store moved aside or rebuilt says so on stderr, one line, as it happens (the TUI shows notices)."""
    from gemtui import storage

    return storage.add_listener(lambda line: print(f"gemtui: warning: {line}", file=sys.stderr, flush=True))


if __name__ == "__main__":
    raise SystemExit(main())
