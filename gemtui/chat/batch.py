"""Headless batches: every prompt goes as soon as the engine admits it, concurrently where limits allow.

Prompts are queued (persistently) in file order. The dispatcher routes the head of the line; when it
may go, it starts at once and the next one is considered; when it must wait, the line waits (FIFO,
so answers come back roughly in order and no prompt starves).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from gemtui.chat.batch_resume import prompt_digest
from gemtui.chat.queue import QueueItem, RequestQueue
from gemtui.chat.response_cache import CacheUse, is_cached, request_key
from gemtui.chat.router import Decision, candidates, decide
from gemtui.chat.runtime_view import SdkClient
from gemtui.chat.sender import Request, request_costs
from gemtui.chat.turn_runner import Failed, Finished, Outgoing, Routed, TurnConsumer, TurnEvent, TurnRunner, Wire
from gemtui.errors import one_line, scrub
from gemtui.quota.clock import Clock
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.forecast import admission_times
from gemtui.textin import lone_surrogate
from gemtui.turns import Turn


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
                raise BatchFileError(f'{path}:{number}: a JSON line needs a non-empty "prompt" string')
            lone = lone_surrogate(prompt)  # "\udcff" is valid JSON, but no UTF-8 text can carry it
            if lone is not None:
                raise BatchFileError(f"{path}:{number}: the prompt holds {lone}, half of a character, not text")
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
    thoughts_tokens: int | None = None
    queued_s: float = 0.0
    error: str | None = None
    batch: str | None = None  # the batch id (see gemtui.chat.batch_resume): a rerun matches on it
    cached: bool = False  # answered from the response cache: nothing was sent for it
    images: list[str] = field(default_factory=list)  # where images the answer carried were saved

    def to_json(self) -> str:
        return json.dumps(
            {
                "batch": self.batch,
                "index": self.index,
                "prompt_sha": prompt_digest(self.prompt),
                "prompt": self.prompt,
                "model": self.model,
                "text": self.text,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "thoughts_tokens": self.thoughts_tokens,
                "queued_s": round(self.queued_s, 3),
                "error": scrub(self.error) if self.error else self.error,
                "cached": self.cached,
                **({"images": self.images} if self.images else {}),  # only answers that carried images
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
    # When the last prompt is expected answered (epoch s of the engine's clock; math.inf: never),
    # from the quota engine's admission: see `finish_estimate`. None until there is one.
    finish_at: float | None = None
    # Why results could not be written (a full disk under --out): the batch stopped sending then, and
    # `unwritten` answers are missing from the output (a rerun sends only what is missing).
    output_error: OSError | None = None
    unwritten: int = 0


def daily_capacity_warning(engine: QuotaEngine, project: str, preference: str, count: int) -> str | None:
    """Say up front when a batch is larger than what today's RPD leaves on the models it may use."""
    models = candidates(preference)[1]
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
    client: SdkClient,
    project: str,
    make_request: Callable[[str], Request],
    on_result: Callable[[BatchResult], Awaitable[None] | None],
    on_progress: Callable[[BatchProgress], None] | None = None,
    queue: RequestQueue | None = None,
    max_concurrency: int = 8,
    secrets: tuple[str, ...] = (),
    tick_s: float | None = 1.0,
    batch_id: str | None = None,
    indices: list[int] | None = None,
    cache: CacheUse | None = None,
    images_dir: Path | None = None,
    cache_scope: str = "gemini",
) -> BatchProgress:
    """Send every prompt; call `on_result` as each finishes. Returns the final progress counts.

    `on_progress` is called on every change and, every `tick_s` seconds of real time, with the
    countdowns and the ETA read afresh from the engine's clock (None: on changes only).
    `indices` are the prompts' places in the batch file (a resumed batch sends only some of them);
    `batch_id` names the batch in the queue and on every result line. With an enabled `cache`, a prompt
    answered before is served from it without being routed."""
    queue = queue or RequestQueue()
    batch_id = batch_id or uuid.uuid4().hex
    items = queue.add_many(prompts, batch_id=batch_id)
    places = indices if indices is not None else range(len(items))
    run = _BatchRun(
        Wire(engine, project, lambda: client, secrets, cache_scope=cache_scope),
        queue,
        batch_id,
        make_request,
        on_result,
        on_progress,
        max_concurrency,
        deque(zip(places, items, strict=True)),
        cache,
    )
    run.images_dir = images_dir
    ticking = asyncio.ensure_future(run.tick(tick_s)) if on_progress and tick_s else None
    try:
        await run.dispatch()
    finally:
        if ticking is not None:
            ticking.cancel()
        await run.stop()
    return run.progress


class _BatchRun:
    """One run of a batch: the dispatcher that routes the head of the line, and a turn runner per prompt
    it lets go (the runner records each prompt's queue state; `on_result` is written before it does)."""

    def __init__(
        self,
        wire: Wire,
        queue: RequestQueue,
        batch_id: str,
        make_request: Callable[[str], Request],
        on_result: Callable[[BatchResult], Awaitable[None] | None],
        on_progress: Callable[[BatchProgress], None] | None,
        concurrency: int,
        line: deque[tuple[int, QueueItem]],
        cache: CacheUse | None = None,
    ) -> None:
        self.wire, self.queue, self.batch_id = wire, queue, batch_id
        self.cache = cache
        self.asking: dict[int, str] = {}  # line index -> the cache key of a prompt being answered
        self.runner = TurnRunner(wire, queue)  # the dispatcher's queue writes
        self.make_request, self.on_result, self.on_progress = make_request, on_result, on_progress
        self.concurrency, self.line = concurrency, line
        self.clock = wire.engine.clock
        self.progress = BatchProgress(total=len(line), started_at=self.clock.now())
        self.running: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.images_dir: Path | None = None  # where answers' images are saved (None: the data dir's)
        self.sent_at: dict[int, float] = {}  # line index -> when it was sent (still answering)
        self.answer_s: list[float] = []  # how long each answered prompt took, sent to done

    def report(self) -> None:
        if not self.on_progress:
            return
        line, answer_s = self.line, self.answer_s
        try:
            self.progress.finish_at = finish_estimate(
                self.wire.engine,
                self.wire.project,
                self.make_request(line[0][1].prompt) if line else None,
                len(line),
                in_flight=list(self.sent_at.values()),
                answer_s=sum(answer_s) / len(answer_s) if answer_s else 0.0,
                concurrency=self.concurrency,
            )
        except Exception:  # a locked ledger: no ETA this time, never a failed batch
            logging.getLogger(__name__).exception("batch ETA")
            self.progress.finish_at = None
        self.on_progress(self.progress)

    @property
    def more_to_send(self) -> bool:
        """Prompts wait in line and the output still takes results (a full disk stops the sending)."""
        return bool(self.line) and self.progress.output_error is None

    async def tick(self, tick_s: float | None) -> None:
        while True:
            await asyncio.sleep(tick_s or 1.0)
            self.report()

    async def dispatch(self) -> None:
        """Start what may go; sleep until a prompt finishes or the head of the line may go."""
        progress = self.progress
        while self.more_to_send or self.running:
            self._start_admitted()
            self.report()
            if not self.more_to_send and not self.running:
                break
            self.wake.clear()
            timeout = None
            if self.line and len(self.running) < self.concurrency and progress.waiting_until is not None:
                timeout = max(0.0, progress.waiting_until - self.clock.now())
            await wake_or_timeout(self.wake, self.clock, timeout)

    def _start_admitted(self) -> None:
        """The head of the line, routed and started while the engine admits it now (FIFO: a wait stops it)."""
        progress, engine = self.progress, self.wire.engine
        while self.more_to_send and len(self.running) < self.concurrency:
            index, item = self.line[0]
            request = self.make_request(item.prompt)
            if self._in_cache(request):  # answered from the cache by its runner: nothing to route or reserve
                self.line.popleft()
                self._start(index, item, request, None)
                continue
            key = self._key(request)
            if key is not None and key in self.asking.values():
                break  # the same prompt is being answered: its answer, once kept, serves this one too
            decision: Decision | None = decide(
                engine,
                self.wire.project,
                request.preference,
                request_costs(request),
                policy="wait" if request.policy == "wait" else "switch",
                threshold_s=request.threshold_s,
            )
            assert decision is not None
            if decision.kind == "wait":
                progress.waiting_until, progress.waiting_reason = decision.admission.eta, decision.reason
                self.runner.note_wait(item, decision.admission.eta, decision.reason)
                break
            self.line.popleft()
            progress.waiting_until, progress.waiting_reason = None, ""
            if decision.kind == "refuse":
                # The sender refines a refusal (an exact countTokens where the estimate passed TPM)
                # and reports it as the item's result; nothing is reserved for it here.
                decision = None
            self._start(index, item, request, decision)

    def _in_cache(self, request: Request) -> bool:
        if self.cache is None or not self.cache.enabled:
            return False
        try:
            found = self.cache.lookup(
                request, candidates(request.preference)[1], touch=False, provider=self.wire.cache_scope
            )
            return found is not None
        except Exception:  # the runner asks again and sends it if the cache cannot say
            logging.getLogger(__name__).exception("could not read the response cache")
            return False

    def _key(self, request: Request) -> str | None:
        """What tells two prompts of this batch apart for the cache (None: no cache in use)."""
        if self.cache is None or not self.cache.enabled:
            return None
        return request_key(self.wire.cache_scope, candidates(request.preference)[0], request)

    def _start(self, index: int, item: QueueItem, request: Request, decision: Decision | None) -> None:
        progress = self.progress
        key = self._key(request)
        if key is not None:
            self.asking[index] = key
        self.runner.claim(item, decision.model if decision else None)
        progress.sending += 1
        queued_s = self.clock.now() - progress.started_at
        task = asyncio.create_task(self._one(index, item, request, decision, queued_s))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _one(
        self, index: int, item: QueueItem, request: Request, decision: Decision | None, queued_s: float
    ) -> None:
        """One prompt through its own turn runner; its result written (before the runner marks its row)."""
        writer = _ResultWriter(
            BatchResult(index=index, prompt=item.prompt, queued_s=queued_s, batch=self.batch_id), self.on_result
        )
        self.sent_at[index] = self.clock.now()
        try:
            await TurnRunner(self.wire, self.queue, cache=self.cache, images_dir=self.images_dir).run(
                Outgoing(item.prompt, item=item, request=request, first_decision=decision), writer
            )
        except Exception as exc:  # the turn stored it as failed; the batch goes on
            logging.getLogger(__name__).exception("batch prompt %s failed unexpectedly", index)
            if not writer.written and writer.write_error is None:
                writer.result.error = one_line(exc, self.wire.secrets)
                await writer.write()
        finally:
            if writer.write_error is not None:  # never a row `done` whose answer is not in the output
                self._not_written(item, writer.write_error)
            self._finished(index, writer)

    def _not_written(self, item: QueueItem, error: OSError) -> None:
        try:
            self.queue.mark(item.id, "failed", error=f"not written to the output: {error.strerror or error}")
        except Exception:  # the queue may sit on the same full disk: the output decides a rerun anyway
            logging.getLogger(__name__).exception("marking batch item %s unwritten", item.id)

    def _finished(self, index: int, writer: _ResultWriter) -> None:
        progress, result = self.progress, writer.result
        self.asking.pop(index, None)
        self.answer_s.append(max(0.0, self.clock.now() - self.sent_at.pop(index)))
        progress.sending -= 1
        if writer.write_error is not None:  # answered (or failed), but the line could not be kept
            progress.unwritten += 1
            progress.output_error = progress.output_error or writer.write_error
        elif writer.written and result.error:
            progress.failed += 1
        elif writer.written:
            progress.done += 1
            if result.model:
                progress.models[result.model] = progress.models.get(result.model, 0) + 1
        self.report()
        # Leave the running set before waking the dispatcher: a done-callback would run one
        # loop turn later, and the dispatcher could go back to sleep counting this task.
        self.running.discard(asyncio.current_task())
        self.wake.set()

    async def stop(self) -> None:
        """The run ends (answered, or stopped): prompts being answered are cancelled (the runner settles
        their rows), those never sent are cancelled in the queue."""
        for task in self.running:
            task.cancel()
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        for _, item in self.line:
            self.runner.drop_unsent(item, "batch stopped before it was sent")


class _ResultWriter(TurnConsumer):
    """A batch prompt's turn, rendered as its result line: written once, when the turn ends."""

    def __init__(self, result: BatchResult, on_result: Callable[[BatchResult], Awaitable[None] | None]) -> None:
        self.result = result
        self.on_result = on_result
        self.written = False
        self.write_error: OSError | None = None

    async def show(self, event: TurnEvent) -> None:
        result = self.result
        if isinstance(event, Routed):
            result.model = event.model
        elif isinstance(event, Finished):
            result.model, result.text, result.cached = event.model, event.text, is_cached(event)
            result.images = [image.path for image in event.saved]
            if event.usage:
                result.input_tokens = event.usage.input_tokens
                result.output_tokens = event.usage.output_tokens
                result.thoughts_tokens = event.usage.thought_tokens
            await self.write()
        elif isinstance(event, Failed):
            result.error, result.text = event.failure.message, event.partial
            await self.write()

    async def write(self) -> None:
        # The result is written before its queue row is marked: a kill in between leaves the row
        # waiting (a rerun finds the answer in the output and skips it), never a row `done` whose
        # answer was not written.
        try:
            maybe = self.on_result(self.result)
            if maybe is not None:
                await maybe
        except OSError as exc:  # the output cannot take it (a full disk): the batch stops, says so
            self.write_error = exc
            return
        self.written = True


def finish_estimate(
    engine: QuotaEngine,
    project: str,
    request: Request | None,
    waiting: int,
    *,
    in_flight: list[float],
    answer_s: float,
    concurrency: int,
) -> float:
    """When the last prompt should be answered: the quota waits ahead included.

    The models the batch may use are forecast lanes (`gemtui.quota.forecast`): how many of the
    `waiting` prompts may go now, then the pace each model's limits allow, routed as the dispatcher
    would; `request` (the next in line) stands for the cost of each. Answers take `answer_s` (the
    mean so far); `in_flight` are the send times of the prompts still being answered."""
    now = engine.clock.now()
    finishing = [max(now, sent + answer_s) for sent in in_flight]
    last = max([now, *finishing])
    if request is None or waiting <= 0:
        return last
    _preferred, order = candidates(request.preference)
    cost_for = request_costs(request)
    lanes = [engine.lane(project, model, cost_for(model)) for model in order]
    times = admission_times(
        lanes,
        waiting,
        now,
        policy="wait" if request.policy == "wait" else "switch",
        threshold_s=request.threshold_s,
        concurrency=concurrency,
        answer_s=answer_s,
        in_flight=finishing,
    )
    return max(last, times[-1][0] + answer_s)


async def wake_or_timeout(wake: asyncio.Event, clock: Clock, timeout: float | None) -> None:
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
            generation=base.generation,
        )

    return make
