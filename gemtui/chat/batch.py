"""Headless batches: every prompt goes as soon as the engine admits it, concurrently where limits allow.

Prompts are queued (persistently) in file order. The dispatcher routes the head of the line; when it
may go, it starts at once and the next one is considered; when it must wait, the line waits (FIFO,
so answers come back roughly in order and no prompt starves).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemtui.chat.queue import QueueItem, RequestQueue
from gemtui.chat.router import decide
from gemtui.chat.sender import Failed, Finished, Request, Routed, request_costs, send
from gemtui.gemini.client import Turn
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.limits import FALLBACK_ORDER, resolve_model


class BatchFileError(ValueError):
    """The batch file cannot be read; the message says which line."""


def read_prompts(path: Path) -> list[str]:
    """One prompt per line, or JSONL objects with a `prompt` field (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchFileError(f"cannot read batch file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BatchFileError(f"batch file {path} is not UTF-8 text") from None
    prompts: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            try:
                record = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise BatchFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            prompt = record.get("prompt") if isinstance(record, dict) else None
            if not isinstance(prompt, str) or not prompt.strip():
                raise BatchFileError(f"{path}:{number}: a JSON line needs a non-empty \"prompt\" string")
            prompts.append(prompt)
        else:
            prompts.append(stripped)
    if not prompts:
        raise BatchFileError(f"batch file {path} has no prompts")
    return prompts


@dataclass
class BatchResult:
    index: int
    prompt: str
    model: str | None = None
    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    queued_s: float = 0.0
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "prompt": self.prompt,
                "model": self.model,
                "text": self.text,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "queued_s": round(self.queued_s, 3),
                "error": self.error,
            },
            ensure_ascii=False,
        )


@dataclass
class BatchProgress:
    total: int
    done: int = 0
    failed: int = 0
    sending: int = 0
    waiting_until: float | None = None
    waiting_reason: str = ""
    started_at: float = 0.0
    models: dict[str, int] = field(default_factory=dict)


def daily_capacity_warning(engine: QuotaEngine, project: str, preference: str, count: int) -> str | None:
    """Say up front when a batch is larger than what today's RPD leaves on the models it may use."""
    models = list(FALLBACK_ORDER) if preference in ("", "auto") else [resolve_model(preference)]
    gauges = engine.gauges(project, models)
    remaining = 0
    for model in models:
        rpd = gauges[model]["rpd"]
        if rpd.limit is None:
            return None  # unlimited somewhere in the chain
        if rpd.blocked_until is None:
            remaining += max(0, rpd.remaining or 0)
    if count <= remaining:
        return None
    names = ", ".join(models)
    return (
        f"this batch has {count} prompts but today's requests-per-day limits leave {remaining} "
        f"on {names}; the rest will fail until the daily reset (midnight Pacific)"
    )


async def run_batch(
    prompts: list[str],
    *,
    engine: QuotaEngine,
    client: Any,
    project: str,
    make_request: Callable[[str], Request],
    on_result: Callable[[BatchResult], Awaitable[None] | None],
    on_progress: Callable[[BatchProgress], None] | None = None,
    queue: RequestQueue | None = None,
    max_concurrency: int = 8,
    secrets: tuple[str, ...] = (),
) -> BatchProgress:
    """Send every prompt; call `on_result` as each finishes. Returns the final progress counts."""
    clock = engine.clock
    queue = queue or RequestQueue()
    batch_id = uuid.uuid4().hex
    items = queue.add_many(prompts, batch_id=batch_id)
    line: deque[tuple[int, QueueItem]] = deque(enumerate(items))
    progress = BatchProgress(total=len(items), started_at=clock.now())
    running: set[asyncio.Task[None]] = set()
    wake = asyncio.Event()

    def report() -> None:
        if on_progress:
            on_progress(progress)

    async def run_one(index: int, item: QueueItem, request: Request, decision: Any, queued_s: float) -> None:
        result = BatchResult(index=index, prompt=item.prompt, queued_s=queued_s)
        try:
            async for event in send(
                request, engine=engine, client=client, project=project, secrets=secrets, first_decision=decision
            ):
                if isinstance(event, Routed):
                    result.model = event.model
                elif isinstance(event, Finished):
                    result.model, result.text = event.model, event.text
                    if event.usage:
                        result.input_tokens = event.usage.input_tokens
                        result.output_tokens = event.usage.output_tokens
                elif isinstance(event, Failed):
                    result.error, result.text = event.failure.message, event.partial
        finally:
            progress.sending -= 1
            if result.error:
                progress.failed += 1
                queue.mark(item.id, "failed", model=result.model, error=result.error)
            else:
                progress.done += 1
                queue.mark(item.id, "done", model=result.model)
                if result.model:
                    progress.models[result.model] = progress.models.get(result.model, 0) + 1
            maybe = on_result(result)
            if maybe is not None:
                await maybe
            report()
            # Leave the running set before waking the dispatcher: a done-callback would run one
            # loop turn later, and the dispatcher could go back to sleep counting this task.
            running.discard(asyncio.current_task())  # type: ignore[arg-type]
            wake.set()

    try:
        while line or running:
            while line and len(running) < max_concurrency:
                index, item = line[0]
                request = make_request(item.prompt)
                decision = decide(
                    engine,
                    project,
                    request.preference,
                    request_costs(request),
                    policy="wait" if request.policy == "wait" else "switch",
                    threshold_s=request.threshold_s,
                )
                if decision.kind == "wait":
                    progress.waiting_until, progress.waiting_reason = decision.admission.eta, decision.reason
                    queue.note_wait(item.id, decision.admission.eta, decision.reason)
                    break
                line.popleft()
                progress.waiting_until, progress.waiting_reason = None, ""
                if decision.kind == "refuse":
                    # The sender refines a refusal (an exact countTokens where the estimate passed TPM)
                    # and reports it as the item's result; nothing is reserved for it here.
                    decision = None
                queue.mark(item.id, "sending", model=decision.model if decision else None)
                progress.sending += 1
                queued_s = clock.now() - progress.started_at
                task = asyncio.create_task(run_one(index, item, request, decision, queued_s))
                running.add(task)
                task.add_done_callback(running.discard)
            report()
            if not line and not running:
                break
            wake.clear()
            timeout = None
            if line and len(running) < max_concurrency and progress.waiting_until is not None:
                timeout = max(0.0, progress.waiting_until - clock.now())
            await wake_or_timeout(wake, clock, timeout)
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for _, item in line:
            queue.mark(item.id, "cancelled", reason="batch stopped before it was sent")
    return progress


async def wake_or_timeout(wake: asyncio.Event, clock: Any, timeout: float | None) -> None:
    """Until `wake` is set (a task finished), or `timeout` seconds of `clock` pass (None: no timeout)."""
    if timeout is None:
        await wake.wait()
        return
    sleeper = asyncio.ensure_future(clock.sleep(timeout))
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()


def single_turn_request(base: Request) -> Callable[[str], Request]:
    """Each batch prompt as its own one-turn conversation, with the batch's routing settings."""

    def make(prompt: str) -> Request:
        return Request(
            turns=[Turn("user", prompt)],
            system=base.system,
            preference=base.preference,
            policy=base.policy,
            threshold_s=base.threshold_s,
            max_output_tokens=base.max_output_tokens,
        )

    return make
