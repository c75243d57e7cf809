"""`gemtui queue`: what waits in the persistent queue or was left there by a gemtui that is gone (a killed
batch, a chat message a killed process was sending), with ways to cancel it or resume a batch."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from dataclasses import dataclass, field

from gemtui import exitcodes
from gemtui.commands._runtime import add_common_options, add_header_option
from gemtui.textin import typed_number


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "queue",
        help="list waiting and orphaned requests (batches and chat); cancel them or resume a batch",
        description="What waits in the persistent queue, and what a killed gemtui left there.",
    )
    add_common_options(parser)
    add_header_option(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--cancel",
        metavar="ID|BATCH|all",
        help="cancel one item (#ID), every waiting item of a batch, or all that nobody is sending",
    )
    action.add_argument(
        "--resume",
        dest="resume_batch",
        metavar="BATCH",
        help="run a stopped batch again from its recorded input and output files",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@dataclass
class BatchEntry:
    id: str
    state: str  # running | orphaned
    owner_pid: int | None
    input_path: str | None
    out_path: str | None
    total: int
    waiting: list[int] = field(default_factory=list)  # queue item ids not answered yet


def run(args: argparse.Namespace) -> int:
    from gemtui.chat.queue import RequestQueue

    queue = RequestQueue()
    try:
        for warning in queue.warnings:
            print(f"gemtui: warning: {warning}", file=sys.stderr)
        if args.cancel is not None:
            return _cancel(queue, args.cancel.strip())
        if args.resume_batch is not None:
            return _resume(queue, args)
        return _list(queue, as_json=args.json)
    finally:
        queue.close()


def _survey(queue) -> tuple[list[BatchEntry], list[dict[str, object]]]:
    """Waiting items grouped: batches (one entry each) and chat items (one each)."""
    batches: dict[str, BatchEntry] = {}
    chat: list[dict[str, object]] = []
    for item in queue.items():
        if item.batch_id is not None:
            entry = batches.get(item.batch_id)
            if entry is None:
                record = queue.batch(item.batch_id)
                owner = queue.batch_running(item.batch_id)
                entry = batches[item.batch_id] = BatchEntry(
                    id=item.batch_id,
                    state="running" if owner else "orphaned",
                    owner_pid=owner,
                    input_path=record.input_path if record else None,
                    out_path=record.out_path if record else None,
                    total=record.total if record else 0,
                )
            entry.waiting.append(item.id)
            continue
        orphan = queue.orphaned(item)
        chat.append(
            {
                "id": item.id,
                "state": "orphaned" if orphan else ("sending" if item.state == "sending" else "waiting"),
                "conversation_id": item.conversation_id,
                "prompt": item.prompt,
                "model": item.model,
                "eta": item.eta,
                "reason": item.reason,
            }
        )
    return list(batches.values()), chat


def _list(queue, *, as_json: bool) -> int:
    batches, chat = _survey(queue)
    if as_json:
        document = {
            "batches": [
                {
                    "id": b.id,
                    "state": b.state,
                    "pid": b.owner_pid,
                    "input": b.input_path,
                    "out": b.out_path,
                    "total": b.total,
                    "unanswered": len(b.waiting),
                    "items": b.waiting,
                }
                for b in batches
            ],
            "chat": chat,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return exitcodes.EXIT_OK
    if not batches and not chat:
        print("the queue is empty: nothing waits and nothing was left behind")
        return exitcodes.EXIT_OK
    for entry in batches:
        where = f"{entry.input_path} → {entry.out_path or 'stdout'}"
        if entry.state == "running":
            print(
                f"batch {entry.id}  running (process {entry.owner_pid}): {len(entry.waiting)} of {entry.total} "
                f"prompts not answered yet · {where}"
            )
        else:
            print(
                f"batch {entry.id}  orphaned (its gemtui is gone): {len(entry.waiting)} of {entry.total} prompts "
                f"not answered · {where} · gemtui queue --resume {entry.id}"
            )
    for item in chat:
        text = one_line_preview(str(item["prompt"]), 60)
        where = f"conversation {item['conversation_id']}" if item["conversation_id"] is not None else "no conversation"
        note = " (its gemtui is gone; the next gemtui offers it)" if item["state"] == "orphaned" else ""
        print(f"#{item['id']}  {item['state']}{note} · {where} · {text}")
    return exitcodes.EXIT_OK


_BIDI_CONTROLS = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def one_line_preview(text: str, width: int) -> str:
    """A prompt shown on one terminal line: control characters (escapes, newlines, bidi overrides) as
    visible symbols (they would move the cursor, recolour or reorder the terminal), cut at `width`."""

    def shown(ch: str) -> str:
        code = ord(ch)
        if ch == "\n":
            return "⏎"
        if code < 0x20:
            return chr(0x2400 + code)  # the Unicode control pictures
        if unicodedata.category(ch) == "Cc" or code in _BIDI_CONTROLS:
            return "\ufffd"
        return ch

    line = "".join(shown(ch) for ch in text.strip())
    return line if len(line) <= width else line[: width - 1] + "…"


def _find_batch(queue, wanted: str):
    """A batch by its id or an unambiguous prefix of it (as listed)."""
    record = queue.batch(wanted)
    if record is not None:
        return record
    matches = [b for b in queue.batches() if b.id.startswith(wanted)] if len(wanted) >= 4 else []
    return matches[0] if len(matches) == 1 else None


def _cancel(queue, target: str) -> int:
    number = target.lstrip("#")
    wanted = typed_number(target)
    item = queue.get(wanted) if wanted is not None else None
    if item is not None and item.state not in ("queued", "sending"):
        item = None
    # `#N` is always an item; bare digits may also begin a batch id (hex), so both are looked up.
    record = _find_batch(queue, target) if not target.startswith("#") else None
    if target == "all":
        items = queue.items()
    elif item is not None and record is not None:
        print(
            f"gemtui: {target!r} is both item #{number} and the start of batch {record.id}; "
            f"say #{number} for the item, or more of the batch id",
            file=sys.stderr,
        )
        return exitcodes.EXIT_USAGE
    elif record is not None:
        items = queue.items(batch_id=record.id)
    elif item is not None:
        items = [item]
    elif wanted is not None:
        print(f"gemtui: no waiting item #{number} (see `gemtui queue`)", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    else:
        print(f"gemtui: no batch or item {target!r} in the queue (see `gemtui queue`)", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    cancelled = sum(1 for item in items if queue.cancel_waiting(item.id))
    busy = len(items) - cancelled
    note = f"; {busy} left alone (a running gemtui is sending them: stop it instead)" if busy else ""
    print(f"gemtui: cancelled {cancelled} item{'s' if cancelled != 1 else ''}{note}", file=sys.stderr)
    if target != "all" and cancelled == 0 and busy:
        return exitcodes.EXIT_USAGE
    return exitcodes.EXIT_OK


def _resume(queue, args: argparse.Namespace) -> int:
    from gemtui.commands._batch import run_batch_command
    from gemtui.commands._runtime import require_config

    record = _find_batch(queue, args.resume_batch.strip())
    if record is None:
        print(f"gemtui: no batch {args.resume_batch!r} in the queue (see `gemtui queue`)", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    options = record.options
    if options.get("endpoint_given") and not options.get("endpoint") and not getattr(args, "endpoint", None):
        print(
            f"gemtui: batch {record.id} was sent through an endpoint with a token, which is not stored; "
            "give it again with --endpoint URL",
            file=sys.stderr,
        )
        return exitcodes.EXIT_USAGE
    if options.get("headers_given") and not args.header:
        print(
            f"gemtui: note: batch {record.id} was sent with --header options, which are not stored; "
            "give them again if the endpoint needs them",
            file=sys.stderr,
        )
    rerun = argparse.Namespace(
        batch=record.input_path,
        out=record.out_path,
        resume_batch=record.out_path is not None,
        restart=False,
        model=options.get("model"),
        system=options.get("system"),
        max_output_tokens=options.get("max_output_tokens"),
        on_limit=options.get("on_limit"),
        wait_threshold=options.get("wait_threshold"),
        header=args.header,
        temperature=options.get("temperature"),
        top_p=options.get("top_p"),
        thinking_budget=options.get("thinking_budget"),
        cache={"on": True, "off": False}.get(str(options.get("cache"))),
    )
    for name in ("profile", "endpoint", "api_version", "demo"):
        value = getattr(args, name, None)
        if value is None or value is False:
            value = options.get(name)
        if value is not None:
            setattr(rerun, name, value)
    config = require_config()
    from gemtui.commands._batch import BatchFileError, plan_batch

    try:
        plan = plan_batch(rerun, config)
    except BatchFileError as exc:
        print(f"gemtui: cannot resume batch {record.id}: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if plan.batch_id != record.id:
        print(
            f"gemtui: {record.input_path} changed since batch {record.id} ran, so this would be another batch; "
            f"run it with `gemtui ask --batch`, or drop the old one with `gemtui queue --cancel {record.id}`",
            file=sys.stderr,
        )
        return exitcodes.EXIT_USAGE
    queue.close()
    return run_batch_command(rerun, config)
