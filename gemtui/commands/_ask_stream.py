"""Streaming one answer to stdout and telling waits, switches and failures on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from gemtui import exitcodes
from gemtui.chat.runtime import Runtime
from gemtui.chat.sender import (
    AskUser,
    Delta,
    Failed,
    Finished,
    Request,
    Retrying,
    Routed,
    Waiting,
    send,
)
from gemtui.config import Config
from gemtui.gemini.client import Turn
from gemtui.timefmt import duration, local_time


def build_request(args: argparse.Namespace, config: Config, turns: list[Turn]) -> Request:
    threshold = args.wait_threshold if getattr(args, "wait_threshold", None) is not None else config.wait_threshold_s
    return Request(
        turns=turns,
        system=getattr(args, "system", None),
        preference=getattr(args, "model", None) or config.model,
        policy=getattr(args, "on_limit", None) or ("wait" if config.on_limit == "wait" else "switch"),
        threshold_s=threshold,
        max_output_tokens=getattr(args, "max_output_tokens", None),
    )


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


async def _session_request(runtime: Runtime, prompt: str, args: argparse.Namespace, config: Config):
    """`--session NAME`: the stored conversation's history under the context budget."""
    from gemtui.chat.conversation import learn_context_windows, open_named_session
    from gemtui.chat.router import candidates

    session = open_named_session(args.session, engine=runtime.engine, project=runtime.project, config=config)
    models = candidates(getattr(args, "model", None) or config.model)[1]
    await learn_context_windows(session.budget, runtime.client, models)
    if getattr(args, "system", None):
        session.store.set_system(session.conversation.id, args.system)
        session.conversation = session.store.get(session.conversation.id)
    base = build_request(args, config, [])
    prepared = session.prepare(prompt, preference=base.preference, policy=base.policy,
                               threshold_s=base.threshold_s, max_output_tokens=base.max_output_tokens)
    plan = next(iter(prepared.plans.values()), None)
    if plan is not None and plan.marker:
        print(f"gemtui: {plan.marker.replace(' — /context', '')} (context budget)", file=sys.stderr)
    return prepared.request, session.record


async def ask_once(runtime: Runtime, prompt: str, args: argparse.Namespace, config: Config) -> int:
    from gemtui.chat.context import ContextTooLarge

    record = None
    if getattr(args, "session", None):
        try:
            request, record = await _session_request(runtime, prompt, args, config)
        except ContextTooLarge as exc:
            print(f"gemtui: {exc}", file=sys.stderr)
            return exitcodes.EXIT_USAGE
    else:
        request = build_request(args, config, [Turn("user", prompt)])
    out, err = sys.stdout, sys.stderr
    wrote_text = False
    if runtime.backup is not None:
        print(f"gemtui: backup profile {runtime.backup.profile_name} takes requests {runtime.profile_name} "
              "cannot send within the wait threshold", file=err)
    async for event in send(request, engine=runtime.engine, client=runtime.client, project=runtime.project,
                            secrets=runtime.secrets, backup=runtime.backup_target()):
        if record is not None:
            record(event)
        notice(event, runtime.engine.clock.now(), err)
        if isinstance(event, Delta):
            out.write(event.text)
            out.flush()
            wrote_text = True
        elif isinstance(event, Finished):
            if wrote_text and not event.text.endswith("\n"):
                out.write("\n")
            out.flush()
            if event.finish_reason and event.finish_reason not in ("STOP", "MAX_TOKENS"):
                print(f"gemtui: the answer stopped early ({event.finish_reason})", file=err)
            return exitcodes.EXIT_OK
        elif isinstance(event, Failed):
            if event.partial:
                out.write("\n")
                out.flush()
            print(f"gemtui: {event.failure.message}", file=err)
            return event.failure.exit_code
        elif isinstance(event, AskUser):  # headless never asks; the router only asks under policy "ask"
            print(f"gemtui: {event.reason}", file=err)
            return exitcodes.EXIT_QUOTA
    return exitcodes.EXIT_ERROR
