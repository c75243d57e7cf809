"""What makes a batch resumable: its id, what its output file already holds, and an output that loses at
most the answers in flight when the process is killed.

A batch is its input file (resolved path and content) and the options that change its answers (model or
preference, output path, system prompt, output cap). Each JSONL line written carries the batch id, the
prompt's index and a digest of the prompt, so a rerun can tell which prompts were answered — by this
batch, for this very prompt — and send only the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def batch_id_for(
    input_path: Path,
    content: bytes,
    *,
    preference: str,
    out_path: Path | None,
    system: str | None,
    max_output_tokens: int | None,
) -> str:
    """Twelve hex digits naming this batch: same file, same content, same answer-shaping options."""
    identity = {
        "input": str(input_path.resolve()),
        "content": hashlib.sha256(content).hexdigest(),
        "preference": preference,
        "out": str(out_path.resolve()) if out_path is not None else "-",
        "system": system,
        "max_output_tokens": max_output_tokens,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class ExistingOutput:
    """What an output file already says about one batch."""

    answered: set[int] = field(default_factory=set)  # indices with an answer for the same prompt
    failed: set[int] = field(default_factory=set)  # indices sent before whose line is an error
    lines: int = 0  # lines of this batch (answered or failed)
    torn_bytes: int = 0  # an unfinished last line cut off (the process died mid-write)
    unreadable: int = 0  # complete lines that are not JSON objects (left alone)


def scan_output(path: Path, batch_id: str, digests: dict[int, str], *, repair: bool) -> ExistingOutput:
    """Read `path` (JSONL from earlier runs) for the answers of `batch_id`.

    A last line without its newline that is not whole JSON was cut by a kill: it is never an answer, and
    with `repair` it is truncated away so the rerun's line for that prompt starts on a line of its own. A
    whole JSON line that only lacks its newline (someone else's, written by hand) is kept, and with
    `repair` given its newline."""
    found = ExistingOutput()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return found
    complete = data.rfind(b"\n") + 1
    tail = data[complete:]
    if tail.strip() and _whole_json(tail):
        if repair:
            with open(path, "ab") as handle:
                handle.write(b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        data, complete = data + b"\n", len(data) + 1
    found.torn_bytes = len(data) - complete
    if found.torn_bytes and repair:
        with open(path, "r+b") as handle:
            handle.truncate(complete)
            handle.flush()
            os.fsync(handle.fileno())
    for raw in data[:complete].splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            found.unreadable += 1
            continue
        if not isinstance(record, dict) or record.get("batch") != batch_id:
            continue
        found.lines += 1
        index = record.get("index")
        if isinstance(index, int) and digests.get(index) == record.get("prompt_sha"):
            (found.failed if record.get("error") else found.answered).add(index)
    return found


def _whole_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


class LineWriter:
    """One JSON line per call, written whole and flushed; on a file also fsync'd, so a line on disk is a
    line kept (a kill loses only the answers not yet written)."""

    def __init__(self, stream: TextIO, *, durable: bool) -> None:
        self.stream = stream
        self.durable = durable

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
        if self.durable:
            os.fsync(self.stream.fileno())
