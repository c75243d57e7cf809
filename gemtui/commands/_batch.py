"""`gemtui ask --batch FILE`: JSONL results on stdout (or --out), a progress line with ETA on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from gemtui import exitcodes
from gemtui.chat.batch import BatchFileError, BatchProgress, BatchResult, read_prompts, run_batch, single_turn_request
from gemtui.config import Config
from gemtui.timefmt import duration


class ProgressLine:
    """A one-line progress bar on a terminal; a plain line per change when stderr is a file or pipe."""

    def __init__(self, stream: TextIO, now: callable) -> None:
        self.stream = stream
        self.now = now
        self.tty = stream.isatty()
        self._last = ""

    def render(self, progress: BatchProgress) -> str:
        finished = progress.done + progress.failed
        width = 24
        filled = int(width * finished / max(1, progress.total))
        bar = "#" * filled + "-" * (width - filled)
        elapsed = max(1e-9, self.now() - progress.started_at)
        left = progress.total - finished
        eta = f" · ETA {duration(elapsed / finished * left)}" if finished and left else ""
        wait = ""
        if progress.waiting_until is not None:
            wait = f" · next in {duration(progress.waiting_until - self.now())} ({progress.waiting_reason})"
        failed = f", {progress.failed} failed" if progress.failed else ""
        return f"[{bar}] {finished}/{progress.total}{failed} · {progress.sending} sending{wait}{eta}"

    def update(self, progress: BatchProgress) -> None:
        line = self.render(progress)
        if line == self._last:
            return
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


def run_batch_command(args: argparse.Namespace, config: Config) -> int:
    from gemtui.commands._ask_stream import build_request
    from gemtui.commands._runtime import require_runtime

    try:
        prompts = read_prompts(Path(args.batch))
    except BatchFileError as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    try:
        out = open(args.out, "a", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    except OSError as exc:
        print(f"gemtui: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    try:
        opened = require_runtime(args, config)
    except BaseException:
        if out is not sys.stdout:
            out.close()
        raise
    runtime = opened.runtime
    base = build_request(args, config, [])
    from gemtui.chat.batch import daily_capacity_warning

    warning = daily_capacity_warning(runtime.engine, runtime.project, base.preference, len(prompts))
    if warning:
        print(f"gemtui: warning: {warning}", file=sys.stderr, flush=True)
    progress_line = ProgressLine(sys.stderr, runtime.engine.clock.now)

    def write_result(result: BatchResult) -> None:
        out.write(result.to_json() + "\n")
        out.flush()

    started = time.monotonic()
    try:
        final = asyncio.run(
            run_batch(
                prompts,
                engine=runtime.engine,
                client=runtime.client,
                project=runtime.project,
                make_request=single_turn_request(base),
                on_result=write_result,
                on_progress=progress_line.update,
                secrets=runtime.secrets,
            )
        )
    finally:
        progress_line.finish()
        opened.close()
        if out is not sys.stdout:
            out.close()
    models = ", ".join(f"{model} {count}" for model, count in sorted(final.models.items()))
    print(
        f"gemtui: batch finished: {final.done} answered, {final.failed} failed in "
        f"{duration(time.monotonic() - started)}" + (f" ({models})" if models else ""),
        file=sys.stderr,
    )
    return exitcodes.EXIT_OK if final.failed == 0 else exitcodes.EXIT_QUOTA
