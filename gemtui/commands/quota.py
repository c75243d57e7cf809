"""`gemtui quota`: what the engine knows about every model's limits, and the usage history kept, as a table
or as JSON for scripts."""

from __future__ import annotations

import argparse
import json

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
    from gemtui.chat.router import route_chain
    from gemtui.commands._quota_table import format_circuits, format_gauges_table, format_history
    from gemtui.commands._runtime import require_config, require_runtime
    from gemtui.quota.limits import resolve_model
    from gemtui.team_ledger import describe

    opened = require_runtime(args, require_config())
    try:
        runtime = opened.runtime
        models = route_chain()  # the configured chain, links to other profiles included
        chosen = getattr(args, "model", None)
        if chosen and chosen != "auto" and resolve_model(chosen) not in models:
            models.insert(0, resolve_model(chosen))
        if args.all:
            models += [m for m in runtime.engine.table.known_models() if m not in models]
        document = runtime.engine.gauges_json(runtime.profile_name, runtime.project, models)
        document["ledger"] = describe(runtime.engine.ledger)  # which counts these are: team or this machine
        if args.json:
            print(json.dumps(document, indent=2))
        else:
            print(f"ledger: {document['ledger']}")
            print(format_gauges_table(document))
            circuits = format_circuits(document)
            if circuits:
                print(circuits)
            history = format_history(document)
            if history:
                print()
                print(history)
        return exitcodes.EXIT_OK
    finally:
        opened.close()
