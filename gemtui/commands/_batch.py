"""`gemtui ask --batch FILE`: JSONL results on stdout (or --out), a progress line with ETA on stderr.

The line is redrawn once a second, so "next in" and "ETA" count down between events; the ETA
includes the quota waits ahead (`gemtui.chat.batch.finish_estimate`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gemtui import exitcodes
from gemtui.chat.batch import BatchFileError, BatchProgress, BatchResult, read_prompts, run_batch, single_turn_request
from gemtui.chat.batch_resume import ExistingOutput, LineWriter, batch_id_for, prompt_digest, scan_output
from gemtui.chat.queue import BatchRunning
from gemtui.chat.response_cache import CacheUse
from gemtui.config import Config
from gemtui.timefmt import duration


class ProgressLine:
    """A one-line progress bar on a terminal, redrawn as its countdowns move; a plain line per change
    when stderr is a file or pipe (and every PLAIN_EVERY_S while only the countdowns move)."""

    PLAIN_EVERY_S = 15.0

    def __init__(self, stream: TextIO, now: Callable[[], float]) -> None:
        self.stream = stream
        self.now = now
        self.tty = stream.isatty()
        self._last = ""
        self._last_state: tuple[object, ...] = ()
        self._last_at = -math.inf

    def render(self, progress: BatchProgress) -> str:
        """Countdowns are read from the clock at each call: the batch reports once a second."""
        now = self.now()
        finished = progress.done + progress.failed
        width = 24
        filled = int(width * finished / max(1, progress.total))
        bar = "#" * filled + "-" * (width - filled)
        left = progress.total - finished
        eta = ""
        if left and progress.finish_at is not None:
            eta = (
                f" · ETA {duration(progress.finish_at - now)}"
                if math.isfinite(progress.finish_at)
                else " · ETA never (no model can take them; see the warning above)"
            )
        wait = ""
        if progress.waiting_until is not None:
            wait = f" · next in {duration(progress.waiting_until - now)} ({progress.waiting_reason})"
        failed = f", {progress.failed} failed" if progress.failed else ""
        return f"[{bar}] {finished}/{progress.total}{failed} · {progress.sending} sending{wait}{eta}"

    def update(self, progress: BatchProgress) -> None:
        line = self.render(progress)
        if line == self._last:
            return
        if not self.tty:
            state = (progress.done, progress.failed, progress.sending, progress.waiting_reason)
            if state == self._last_state and self.now() - self._last_at < self.PLAIN_EVERY_S:
                return
            self._last_state, self._last_at = state, self.now()
        self._last = line
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class BatchPlan:
    """One batch as this run sees it: its id, its prompts, and which of them still need an answer."""

    batch_id: str
    input_path: Path
    out_path: Path | None
    prompts: list[str]
    options: dict[str, object]


def plan_batch(args: argparse.Namespace, config: Config) -> BatchPlan:
    """Read the batch file and name the batch (raises BatchFileError)."""
    from gemtui.commands._ask_stream import build_request

    input_path = Path(args.batch)
    try:
        content = input_path.read_bytes()
    except OSError as exc:
        raise BatchFileError(f"cannot read batch file {input_path}: {exc.strerror}") from None
    prompts = read_prompts(input_path)
    base = build_request(args, config, [])
    out_path = Path(args.out) if args.out else None
    batch_id = batch_id_for(
        input_path,
        content,
        preference=base.preference,
        out_path=out_path,
        system=base.system,
        max_output_tokens=base.max_output_tokens,
    )
    return BatchPlan(
        batch_id, input_path.resolve(), out_path.resolve() if out_path else None, prompts, recorded_options(args)
    )


def recorded_options(args: argparse.Namespace) -> dict[str, object]:
    """What `gemtui queue --resume` needs to run the batch again; no secret is kept (an endpoint with a
    token or password in it is not recorded: give `--endpoint` again)."""
    from urllib.parse import urlsplit

    options: dict[str, object] = {
        name: getattr(args, name, None)
        for name in (
            "model",
            "system",
            "max_output_tokens",
            "temperature",
            "top_p",
            "thinking_budget",
            "on_limit",
            "wait_threshold",
            "profile",
            "api_version",
        )
    }
    options["demo"] = bool(getattr(args, "demo", False))
    endpoint = getattr(args, "endpoint", None)
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint"] = None if (parts.query or parts.password or parts.username) else endpoint
        options["endpoint_given"] = True
    options["headers_given"] = bool(getattr(args, "header", None))
    cache = getattr(args, "cache", None)
    options["cache"] = None if cache is None else ("on" if cache else "off")  # --cache / --no-cache
    return {k: v for k, v in options.items() if v is not None and v is not False}  # 0 and 0.0 are values


def run_batch_command(args: argparse.Namespace, config: Config) -> int:
    from gemtui.chat.queue import RequestQueue
    from gemtui.commands._ask_stream import build_request
    from gemtui.commands._runtime import require_runtime

    resume, restart = bool(getattr(args, "resume_batch", False)), bool(getattr(args, "restart", False))
    if resume and restart:
        print("gemtui: --resume and --restart exclude each other", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    try:
        plan = plan_batch(args, config)
    except BatchFileError as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if (resume or restart) and plan.out_path is None:
        print("gemtui: --resume and --restart need --out FILE (answers on stdout cannot be read back)", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    queue = RequestQueue()
    try:
        queue.purge_finished()
        return _run_planned(
            args, config, plan, queue, restart=restart, build_request=build_request, require_runtime=require_runtime
        )
    finally:
        queue.close()


def _earlier_output(plan: BatchPlan, restart: bool, digests: dict[int, str], out_name: str) -> ExistingOutput | None:
    """What an earlier run of this batch left in --out (moved aside with --restart; a line torn by a kill
    removed); None, with one line said, when the file cannot be read."""
    if plan.out_path is None or not plan.out_path.exists():
        return ExistingOutput()
    if not plan.out_path.is_file():  # /dev/null, a pipe, /dev/full: nothing to read back, nothing to move aside
        return ExistingOutput()
    if restart:
        aside = plan.out_path.with_name(f"{plan.out_path.name}.{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(plan.out_path, aside)
        print(f"gemtui: starting batch {plan.batch_id} over; the earlier output was moved to {aside}", file=sys.stderr)
        return ExistingOutput()
    try:
        existing = scan_output(plan.out_path, plan.batch_id, digests, repair=True)
    except OSError as exc:
        print(f"gemtui: cannot read {out_name}: {exc.strerror}", file=sys.stderr)
        return None
    if existing.torn_bytes:
        print(
            f"gemtui: {out_name}: removed an unfinished last line ({existing.torn_bytes} bytes) "
            "left by a run that was killed while writing it",
            file=sys.stderr,
        )
    return existing


def _say_resuming(plan: BatchPlan, existing: ExistingOutput, todo: list[int], in_flight: int, out_name: str) -> None:
    """One line on what a rerun skips and sends again (or why it cannot skip anything)."""
    if plan.out_path is None:
        print(
            f"gemtui: batch {plan.batch_id} was stopped before; its answers went to stdout and cannot be "
            "read back, so every prompt is sent again (--out FILE makes a batch resumable)",
            file=sys.stderr,
        )
        return
    skipped = len(plan.prompts) - len(todo)
    again = min(len(todo), in_flight + len(existing.failed.difference(existing.answered)))
    print(
        f"gemtui: resuming batch {plan.batch_id}: {skipped} of {len(plan.prompts)} prompts already "
        f"answered in {out_name} are skipped; sending {len(todo)}, {again} of them re-sent "
        f"({in_flight} were in flight when the earlier run stopped, and the quota ledger still counts "
        "them); --restart starts over",
        file=sys.stderr,
        flush=True,
    )


def _open_private_append(path: str | Path) -> TextIO:
    """The answers file, appended to; made 0600 when gemtui creates it (answers are the user's own)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return open(fd, "a", encoding="utf-8")  # noqa: SIM115  (closed by the batch when it ends)


def _run_planned(args, config, plan: BatchPlan, queue, *, restart: bool, build_request, require_runtime) -> int:
    owner = queue.batch_running(plan.batch_id)
    if owner is not None:
        print(
            f"gemtui: batch {plan.batch_id} is already running (process {owner}); wait for it or stop it first",
            file=sys.stderr,
        )
        return exitcodes.EXIT_USAGE
    left_over = [item for item in queue.items(batch_id=plan.batch_id)]
    digests = {index: prompt_digest(prompt) for index, prompt in enumerate(plan.prompts)}
    out_name = str(args.out) if args.out else "stdout"
    existing = _earlier_output(plan, restart, digests, out_name)
    if existing is None:
        return exitcodes.EXIT_USAGE
    todo = [index for index in range(len(plan.prompts)) if index not in existing.answered]
    in_flight = _in_flight_again(left_over, [plan.prompts[index] for index in todo])
    if existing.lines or left_over:
        _say_resuming(plan, existing, todo, in_flight, out_name)
    try:
        out = _open_private_append(args.out) if args.out else sys.stdout
    except OSError as exc:
        print(f"gemtui: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    try:
        queue.start_batch(
            plan.batch_id,
            input_path=str(plan.input_path),
            out_path=str(plan.out_path) if plan.out_path else None,
            options=plan.options,
            total=len(plan.prompts),
        )
    except BatchRunning as exc:  # started between the check above and now
        if out is not sys.stdout:
            out.close()
        print(
            f"gemtui: batch {plan.batch_id} is already running (process {exc.pid}); wait for it or stop it first",
            file=sys.stderr,
        )
        return exitcodes.EXIT_USAGE
    try:
        if not todo:
            print(
                f"gemtui: batch {plan.batch_id}: every prompt is already answered in {out_name}; "
                "nothing to send (--restart starts over)",
                file=sys.stderr,
            )
            return exitcodes.EXIT_OK
        return _send(args, config, plan, todo, queue, out, build_request, require_runtime)
    finally:
        queue.finish_batch(plan.batch_id)
        if out is not sys.stdout:
            with contextlib.suppress(OSError):  # a full disk was already said; what did not fit is gone
                out.close()


def _in_flight_again(left_over: list, todo_prompts: list[str]) -> int:
    """How many of the prompts to send were being sent when the earlier run stopped (rows `sending`, or put
    back in line by a TUI's recovery); a row whose answer did reach the output is not one of them."""
    unanswered = Counter(todo_prompts)
    count = 0
    for item in left_over:
        if (item.state == "sending" or (item.reason or "").startswith("resumed after")) and unanswered[item.prompt]:
            unanswered[item.prompt] -= 1
            count += 1
    return count


def _send(args, config, plan: BatchPlan, todo: list[int], queue, out, build_request, require_runtime) -> int:
    opened = require_runtime(args, config)
    runtime = opened.runtime
    base = build_request(args, config, [])
    from gemtui.chat.batch import daily_capacity_warning

    warning = daily_capacity_warning(runtime.engine, runtime.project, base.preference, len(todo))
    if warning:
        print(f"gemtui: warning: {warning}", file=sys.stderr, flush=True)
    progress_line = ProgressLine(sys.stderr, runtime.engine.clock.now)
    # fsync'd on a regular file; a pipe or a device (/dev/null) has nothing to sync and says EINVAL
    writer = LineWriter(out, durable=out is not sys.stdout and stat.S_ISREG(os.fstat(out.fileno()).st_mode))

    def write_result(result: BatchResult) -> None:
        writer.write(result.to_json())

    cache = CacheUse.from_config(config, flag=getattr(args, "cache", None), default=True)
    started = time.monotonic()
    try:
        final = asyncio.run(
            run_batch(
                [plan.prompts[index] for index in todo],
                indices=todo,
                batch_id=plan.batch_id,
                engine=runtime.engine,
                client=runtime.client,
                project=runtime.project,
                make_request=single_turn_request(base),
                on_result=write_result,
                on_progress=progress_line.update,
                queue=queue,
                secrets=runtime.secrets,
                cache=cache,
                images_dir=Path(args.out_dir) if getattr(args, "out_dir", None) else None,
                cache_scope=runtime.cache_scope,
            )
        )
    finally:
        progress_line.finish()
        cache.close()
        opened.close()
    models = ", ".join(f"{model} {count}" for model, count in sorted(final.models.items()))
    print(
        f"gemtui: batch {'stopped' if final.output_error else 'finished'}: {final.done} answered, "
        f"{final.failed} failed in {duration(time.monotonic() - started)}" + (f" ({models})" if models else ""),
        file=sys.stderr,
    )
    if cache.hits:
        print(f"gemtui: {cache.hits} answered from the response cache (nothing sent for them)", file=sys.stderr)
    if final.output_error is not None:
        unsent = max(0, len(todo) - final.done - final.failed - final.unwritten)
        print(
            f"gemtui: cannot write {plan.out_path or 'stdout'}: {final.output_error.strerror or final.output_error}; "
            f"{final.unwritten} answer{'s' if final.unwritten != 1 else ''} not written"
            + (f", {unsent} prompt{'s' if unsent != 1 else ''} not sent" if unsent else "")
            + " (run the same command again once there is room: it sends only what is missing)",
            file=sys.stderr,
        )
        return exitcodes.EXIT_OUTPUT
    return exitcodes.EXIT_OK if final.failed == 0 else exitcodes.EXIT_QUOTA
