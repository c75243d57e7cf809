"""Streaming one answer to stdout and telling waits, switches and failures on stderr."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from gemtui import diskfull, exitcodes
from gemtui.chat.conversation import ChatSession
from gemtui.chat.response_cache import CachedAnswer, CachedFinished, CacheUse
from gemtui.chat.sender import Request
from gemtui.chat.turn_runner import (
    AskUser,
    Delta,
    Failed,
    Finished,
    NotSent,
    Outgoing,
    Planned,
    Retrying,
    Routed,
    Routing,
    TurnConsumer,
    TurnEvent,
    TurnRunner,
    Waiting,
    Wire,
)
from gemtui.config import Config
from gemtui.generation import GenerationSettings, check_for_route, parse
from gemtui.runtime import Runtime
from gemtui.timefmt import duration, local_time
from gemtui.turns import Attachment, Turn

# `ask` flag (its argparse dest) -> the generation setting it sets
SETTING_FLAGS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_output_tokens": "max_output",
    "thinking_budget": "thinking_budget",
}


def check_settings(args: argparse.Namespace, config: Config | None = None) -> None:
    """The generation flags as typed, checked against their ranges and (a forced `--model`) the model's
    rules; each replaced by its value. Raises ValueError (one line naming the allowed range)."""
    from gemtui.chat.router import candidates

    preference = getattr(args, "model", None) or (config.model if config is not None else "auto")
    for dest, name in SETTING_FLAGS.items():
        typed = getattr(args, dest, None)
        if typed is None or not isinstance(typed, str):
            continue
        value = parse(name, typed)
        check_for_route(name, value, candidates(preference)[1])
        setattr(args, dest, value)


def flag_settings(args: argparse.Namespace) -> GenerationSettings:
    """The generation settings given as `ask` flags (checked by `check_settings`)."""
    given = {name: getattr(args, dest, None) for dest, name in SETTING_FLAGS.items()}
    return GenerationSettings(**{k: v for k, v in given.items() if v is not None})


def build_request(args: argparse.Namespace, config: Config, turns: list[Turn]) -> Request:
    threshold = args.wait_threshold if getattr(args, "wait_threshold", None) is not None else config.wait_threshold_s
    generation = flag_settings(args).over(config.generation)
    return Request(
        turns=turns,
        system=getattr(args, "system", None),
        preference=getattr(args, "model", None) or config.model,
        policy=getattr(args, "on_limit", None) or ("wait" if config.on_limit == "wait" else "switch"),
        threshold_s=threshold,
        max_output_tokens=generation.max_output,
        generation=generation,
    )


def usage_line(event: Finished) -> str:
    """`gemini-2.5-flash · 12 in / 240 out / 310 thinking tokens · 1.8 s` (`ask --verbose`)."""
    usage = event.usage
    counts = []
    if usage is not None:
        counts = [
            f"{usage.input_tokens if usage.input_tokens is not None else '?'} in",
            f"{usage.output_tokens if usage.output_tokens is not None else '?'} out",
        ]
        if usage.thought_tokens:
            counts.append(f"{usage.thought_tokens} thinking")
    parts = [event.model, " / ".join(counts) + " tokens" if counts else "", f"{event.latency_s:.1f} s"]
    return " · ".join(p for p in parts if p)


def notice(event: object, now: float, err: TextIO) -> None:
    """One stderr line for each event a person should know about."""
    if isinstance(event, Waiting):
        print(
            f"gemtui: waiting {duration(event.until - now)} for {event.model} ({event.reason}; "
            f"sends at {local_time(event.until)})",
            file=err,
            flush=True,
        )
    elif isinstance(event, Retrying):
        print(f"gemtui: {event.reason}; retrying {event.model} in {duration(event.until - now)}", file=err, flush=True)
    elif isinstance(event, Routed) and event.switched:
        print(f"gemtui: {event.note or event.preferred + ' is busy'}", file=err, flush=True)


def _open_session(runtime: Runtime, args: argparse.Namespace, config: Config) -> ChatSession:
    """`--session NAME`: the stored conversation; `--system` and the generation flags given are stored
    with it, so the next turn (or the TUI's `--resume`) asks the same."""
    from gemtui.chat.conversation import open_named_session

    session = open_named_session(args.session, engine=runtime.engine, project=runtime.project, config=config)
    if getattr(args, "system", None):
        session.set_system(args.system)
    given = flag_settings(args)
    if given.canonical():
        session.set_settings(given.over(session.conversation.settings))
    return session


class OutputFailed(Exception):
    """stdout itself could not be written (a full disk under a redirected file)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _emit(out: TextIO, text: str) -> None:
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputFailed(exc) from exc


def _silence_stdout(out: TextIO) -> None:
    """Point stdout at /dev/null so the interpreter's last flush of what stayed buffered fails no more."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


async def ask_once(
    runtime: Runtime, prompt: str, args: argparse.Namespace, config: Config, attachments: tuple[Attachment, ...] = ()
) -> int:
    diskfull.clear()
    out, err = sys.stdout, sys.stderr
    printer = AnswerPrinter(out, err, runtime, verbose=bool(getattr(args, "verbose", False)))
    try:
        runner, outgoing = _turn(runtime, prompt, args, config, attachments)
        if runtime.backup is not None:
            print(
                f"gemtui: backup profile {runtime.backup.profile_name} takes requests {runtime.profile_name} "
                "cannot send within the wait threshold",
                file=err,
            )
        try:
            await runner.run(outgoing, printer)
        finally:
            if runner.cache is not None:
                runner.cache.close()
    except OutputFailed as failed:
        # The answer cannot reach its file; closing the stream above settled the reservation.
        _silence_stdout(out)
        print(
            f"gemtui: could not write the answer to stdout ({diskfull.why(failed.cause)}); the output is incomplete",
            file=err,
        )
        return exitcodes.EXIT_OUTPUT
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) or not diskfull.is_write_failure(exc):
            raise
        return _not_saved(exc, runtime, args, printer)
    line = diskfull.unsaved_line()
    status = printer.status
    if line is None:
        return status
    print(f"gemtui: {line}" + ("; the answer above is complete" if status == exitcodes.EXIT_OK else ""), file=err)
    return exitcodes.EXIT_NOT_SAVED if status == exitcodes.EXIT_OK else status


def _turn(
    runtime: Runtime, prompt: str, args: argparse.Namespace, config: Config, attachments: tuple[Attachment, ...] = ()
) -> tuple[TurnRunner, Outgoing]:
    """The runner and the message: a one-off request, or the prompt of a stored conversation whose store,
    should it fail to be written, is noted and closed while the answer keeps printing."""
    base = build_request(args, config, [Turn("user", prompt, attachments)])
    cache = CacheUse.from_config(config, flag=getattr(args, "cache", None))
    out_dir = getattr(args, "out_dir", None)
    images_dir = Path(out_dir) if out_dir else None
    if not getattr(args, "session", None):
        routing = Routing(base.preference, base.policy, base.threshold_s, base.max_output_tokens, base.generation)
        return (
            TurnRunner(Wire.of(runtime), cache=cache, images_dir=images_dir),
            Outgoing(prompt, routing, request=base),
        )
    routing = Routing(base.preference, base.policy, base.threshold_s)  # the session's stored settings apply
    session = _open_session(runtime, args, config)
    label = f'the conversation "{args.session}" ({session.store.path.name})'
    runner = TurnRunner(
        Wire.of(runtime),
        labels={"conversation": label},
        stops=lambda _exc: True,
        closers={"conversation": session.store.close},
        cache=cache,
        images_dir=images_dir,
    )
    return runner, Outgoing(prompt, routing, session=session, attachments=attachments)


def _not_saved(exc: Exception, runtime: Runtime, args: argparse.Namespace, printer: AnswerPrinter) -> int:
    """A store the turn cannot go on without could not be written: the conversation before anything was
    sent, or the quota ledger where the sender needs it (a reservation)."""
    err = printer.err
    if not printer.planned and getattr(args, "session", None):
        diskfull.note_unsaved(f'the conversation "{args.session}"', exc)
        print(f"gemtui: {diskfull.unsaved_line()}; nothing was sent", file=err)
        return exitcodes.EXIT_NOT_SAVED
    diskfull.note_unsaved(f"the quota ledger ({runtime.engine.ledger.path.name})", exc)
    if printer.printed:
        _emit(printer.out, "\n")
    after = (
        "the answer above is incomplete"
        if printer.printed
        else ("the request was stopped" if printer.routed else "nothing was sent")
    )
    print(f"gemtui: {diskfull.unsaved_line()}; {after}", file=err)
    return exitcodes.EXIT_NOT_SAVED


class AnswerPrinter(TurnConsumer):
    """The turn runner's consumer for `gemtui ask`: the answer on stdout, waits, switches and failures
    on stderr, and the exit status the turn ended with."""

    def __init__(self, out: TextIO, err: TextIO, runtime: Runtime, verbose: bool = False) -> None:
        self.out, self.err, self.runtime, self.verbose = out, err, runtime, verbose
        self.status = exitcodes.EXIT_ERROR
        self.planned = False  # the prompt is stored and planned
        self.routed = False  # a request went out
        self.printed = False  # some of its answer is on stdout

    async def show(self, event: TurnEvent) -> None:
        if isinstance(event, Planned):
            self.planned = True
            self._marker(event)
        elif isinstance(event, NotSent):
            print(f"gemtui: {event.reason}", file=self.err)
            self.status = exitcodes.EXIT_USAGE
        elif isinstance(event, Delta):
            _emit(self.out, event.text)
            self.printed = True
        self.routed = self.routed or isinstance(event, Routed)
        notice(event, self.runtime.engine.clock.now(), self.err)
        self._ending(event)

    async def offer_cached(self, hit: CachedAnswer, waiting: Waiting) -> bool:
        """Headless, nobody to ask: rather than wait past the threshold, answer from the response cache
        (only `--no-cache` refuses), and say so on stderr."""
        print(
            f"gemtui: every model must wait ({waiting.reason}; until {local_time(waiting.until)}); "
            "an identical question was answered before",
            file=self.err,
            flush=True,
        )
        return True

    def _marker(self, event: Planned) -> None:
        plan = next(iter(event.prepared.plans.values()), None) if event.prepared is not None else None
        if plan is not None and plan.marker:
            print(f"gemtui: {plan.marker.replace(' — /context', '')} (context budget)", file=self.err)

    def _ending(self, event: TurnEvent) -> None:
        err = self.err
        if isinstance(event, Finished):
            _emit(self.out, "\n" if self.printed and not event.text.endswith("\n") else "")
            if isinstance(event, CachedFinished):
                print(
                    f"gemtui: cached: answered from the response cache (kept {local_time(event.cached_at)}, "
                    f"{event.model}); nothing was sent",
                    file=err,
                )
            for image in event.saved:
                print(f"gemtui: image saved: {image.path}", file=err)
            if event.finish_reason and event.finish_reason not in ("STOP", "MAX_TOKENS"):
                print(f"gemtui: the answer stopped early ({event.finish_reason})", file=err)
            if self.verbose:
                print(f"gemtui: {usage_line(event)}", file=err)
            self.status = exitcodes.EXIT_OK
        elif isinstance(event, Failed):
            if event.partial:
                _emit(self.out, "\n")
            print(f"gemtui: {event.failure.message}", file=err)
            self.status = exitcodes.for_failure(event.failure.kind)
        elif isinstance(event, AskUser):  # headless never asks; the router only asks under policy "ask"
            print(f"gemtui: {event.reason}", file=err)
            self.status = exitcodes.EXIT_QUOTA
