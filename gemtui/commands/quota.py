"""`gemtui quota`: what the engine knows about every model's limits, as a table or as JSON for scripts."""

from __future__ import annotations

import argparse
import json
import sys

from gemtui import exitcodes
from gemtui.commands._runtime import add_common_options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quota",
        help="show used / limit / remaining / reset for each model and dimension",
        description="Gauges for the active profile's project: RPM, TPM, RPD and IPM of each model.",
    )
    add_common_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--all", action="store_true", help="every model in the limits table, not just the chain")


def run(args: argparse.Namespace) -> int:
    from gemtui.commands._runtime import require_config, require_runtime
    from gemtui.quota.limits import FALLBACK_ORDER, resolve_model
    from gemtui.quota.render import format_gauges_table

    opened = require_runtime(args, require_config())
    try:
        runtime = opened.runtime
        models = list(FALLBACK_ORDER)
        chosen = getattr(args, "model", None)
        if chosen and chosen != "auto" and resolve_model(chosen) not in models:
            models.insert(0, resolve_model(chosen))
        if args.all:
            models += [m for m in runtime.engine.table.known_models() if m not in models]
        document = runtime.engine.gauges_json(runtime.profile_name, runtime.project, models)
        for warning in runtime.engine.warnings:
            print(f"gemtui: warning: {warning}", file=sys.stderr)
        if args.json:
            print(json.dumps(document, indent=2))
        else:
            print(format_gauges_table(document))
        return exitcodes.EXIT_OK
    finally:
        opened.close()
