"""One "machine" of the team ledger's end-to-end test, run as its own process (`python -m tests.team_worker`).

It builds its ledger the way gemtui does (GEMTUI_LEDGER_URL, its own data folder in XDG_*), sends `count`
forced-Pro requests to the emulator through the real SDK and the real sender, and prints one JSON line
per request: what it ended as, and how many 429s it met on the way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from gemtui import paths
from gemtui.chat.sender import Failed, Finished, Retrying, send
from gemtui.config import Config
from gemtui.gemini.client import make_client
from gemtui.quota.engine import QuotaEngine
from gemtui.team_ledger import open_ledger
from tests.fixtures_e2e import ask


async def run(args: argparse.Namespace) -> None:
    config = Config({"ledger": {"lease_s": args.lease_s, "on_unreachable": "stop"}})
    ledger, clock = open_ledger(config, args.project, ledger_path=paths.ledger_file(), history_days=30)
    engine = QuotaEngine(ledger, clock=clock, tier="free", window_s=args.window_s)
    client = make_client(args.key, args.base_url)
    print(json.dumps({"ready": True}), flush=True)
    for n in range(args.count):
        outcome, retries = "none", 0
        async for event in send(
            ask(f"{args.name} request {n}", "pro"), engine=engine, client=client, project=args.project
        ):
            if isinstance(event, Retrying):
                retries += 1
            elif isinstance(event, Finished):
                outcome = "finished"
            elif isinstance(event, Failed):
                outcome = f"failed: {event.failure.kind} {event.failure.message}"
        print(json.dumps({"request": n, "outcome": outcome, "retries": retries}), flush=True)
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--lease-s", type=float, default=600.0)
    asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
