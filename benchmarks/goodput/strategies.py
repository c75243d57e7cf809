"""The four ways of sending an hour of arrivals, all through the real google-genai SDK over HTTP.

Every strategy gets the same prompts at the same simulated instants, its own project (own key, own quota),
and the same shared simulated clock. Sends stop at T: nothing is sent at or after T, requests already on
the wire finish. Each prompt ends as one of: ok (answered), lost (the strategy gave up on it), unsent (still
waiting at T). `sends` records the simulated instant of every attempt; the wait of a success is its last
send minus its arrival.

* gemtui:  gemtui's own path. The dispatcher is `gemtui.chat.batch.run_batch`'s loop fed by arrivals instead
           of a file: the head of a FIFO line is routed by `gemtui.chat.router.decide` (policy "wait", the
           model forced by `Request(preference=model)`), sent by `gemtui.chat.sender.send(first_decision=...)`
           as soon as admitted, up to 8 at once; when the head must wait, the line sleeps on the engine's
           clock until the ETA or until a send finishes or a prompt arrives. The request cost is batch's
           default (`sender.estimate_cost`), the engine a `QuotaEngine` on a temporary ledger with a
           `ScaledClock`; the client is `gemtui.gemini.client.make_client`.
* tenacity: the common recipe: `AsyncRetrying(wait=wait_random_exponential(multiplier=1, max=60),
           stop=stop_after_attempt(5))` around `client.aio.models.generate_content`, retrying 429 and 5xx,
           every prompt sent the moment it arrives; its sleeps run on the simulated clock.
* sdk-retry: the SDK's own `HttpRetryOptions` (tenacity's wait_exponential_jitter inside the SDK: attempts 5,
           initial 1 s, max 60 s, exp_base 2, jitter 1 s, codes 408/429/5xx by default). The SDK sleeps in real
           time, so initial_delay, max_delay and jitter are set to their defaults divided by the speed;
           attempts, exp_base and the codes are left unset (defaults). Every prompt sent on arrival.
* fixed:   fixed spacing: one FIFO line, one send every 60/RPM simulated seconds; a prompt refused with a
           429 goes back to the head of the line and takes the next slot, at most 5 attempts (the recipe's
           budget) before it is lost.
"""

from __future__ import annotations

import asyncio
import contextvars
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.goodput.workload import Prompt
from gemtui.chat.batch import wake_or_timeout

MAX_ATTEMPTS = 5


class PastDeadline(Exception):
    """An attempt that would start at or after T: not sent."""


@dataclass
class Record:
    prompt: Prompt
    arrival: float  # absolute emulator time
    sends: list[float] = field(default_factory=list)
    outcome: str = "unsent"  # ok | lost | unsent
    done_at: float | None = None
    client_429s: int = 0
    note: str = ""
    log: list[tuple[float, str]] = field(default_factory=list)  # (emulator time, what) for gemtui's retries

    @property
    def wait(self) -> float | None:
        return self.sends[-1] - self.arrival if self.outcome == "ok" and self.sends else None


class Strategy:
    name = "?"

    def __init__(
        self,
        *,
        clock: Any,
        base_url: str,
        key: str,
        project: str,
        model: str,
        rpm: int,
        speed: float,
        t0: float,
        T: float,
    ) -> None:
        self.clock, self.base_url, self.key, self.project = clock, base_url, key, project
        self.model, self.rpm, self.speed, self.t0, self.T = model, rpm, speed, t0, T
        self.records: list[Record] = []
        self.tasks: set[asyncio.Task] = set()

    def now(self) -> float:
        return self.clock.now()

    async def sleep_until(self, t: float) -> None:
        await self.clock.sleep(max(0.0, t - self.now()))

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self, prompts: list[Prompt]) -> None:
        """Feed arrivals until T; subclasses handle each arrival in `arrive`."""
        await self.start()
        for prompt in prompts:
            at = self.t0 + prompt.arrival
            if at >= self.T:
                break
            await self.sleep_until(at)
            record = Record(prompt, at)
            self.records.append(record)
            self.arrive(record)
        await self.sleep_until(self.T)
        await self.at_deadline()

    async def start(self) -> None:
        pass

    def arrive(self, record: Record) -> None:
        raise NotImplementedError

    async def at_deadline(self) -> None:
        pass

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def sdk_client(self, **http_options: Any) -> Any:
        from google import genai
        from google.genai import types

        return genai.Client(
            api_key=self.key,
            http_options=types.HttpOptions(
                base_url=self.base_url, api_version="v1beta", timeout=120_000, **http_options
            ),
        )

    async def generate(self, client: Any, record: Record) -> None:
        await client.aio.models.generate_content(model=self.model, contents=record.prompt.text)


def _is_429(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 429


def _retryable(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    return code == 429 or (isinstance(code, int) and code >= 500)


# ---- gemtui ------------------------------------------------------------------------------------------------


async def dispatch_line(strategy: Any, decide_for: Callable[[Any], Any]) -> None:
    """run_batch's dispatcher fed by arrivals: the head of `strategy.line` goes when routing says so (up
    to MAX_CONCURRENCY at once, each sent by `strategy._run_one` with its decision), a refused one is
    lost, and between arrivals it sleeps until the head's ETA or the end of the hour."""
    while True:
        waiting_until = None
        while strategy.line and strategy.running < strategy.MAX_CONCURRENCY and strategy.now() < strategy.T:
            record = strategy.line[0]
            request = strategy.make_request(record.prompt.text)
            decision = decide_for(request)
            if decision.kind == "wait":
                waiting_until = decision.admission.eta
                break
            strategy.line.popleft()
            if decision.kind == "refuse":
                record.outcome, record.note = "lost", decision.reason
                continue
            strategy.running += 1
            strategy.spawn(strategy._run_one(record, request, decision))
        strategy.wake.clear()
        if strategy.now() >= strategy.T:
            return
        timeout = None
        if strategy.line and strategy.running < strategy.MAX_CONCURRENCY and waiting_until is not None:
            timeout = max(0.0, min(waiting_until, strategy.T) - strategy.now())
        elif not strategy.line or strategy.running >= strategy.MAX_CONCURRENCY:
            timeout = max(0.0, strategy.T - strategy.now())
        await wake_or_timeout(strategy.wake, strategy.clock, timeout)


class Gemtui(Strategy):
    name = "gemtui"
    MAX_CONCURRENCY = 8  # run_batch's default

    async def start(self) -> None:
        from gemtui.chat.batch import single_turn_request
        from gemtui.chat.sender import Request
        from gemtui.gemini.client import make_client
        from gemtui.quota.engine import QuotaEngine

        self._tmp = tempfile.TemporaryDirectory(prefix="bench-goodput-")
        self.engine = QuotaEngine(clock=self.clock, tier="free", ledger_path=Path(self._tmp.name) / "ledger.sqlite")
        self.client = make_client(self.key, self.base_url, "v1beta")
        self.make_request = single_turn_request(Request(turns=[], preference=self.model, policy="wait"))
        self.line: deque[Record] = deque()
        self.running = 0
        self.wake = asyncio.Event()
        self.spawn(self._dispatch())

    def arrive(self, record: Record) -> None:
        self.line.append(record)
        self.wake.set()

    async def _dispatch(self) -> None:
        from gemtui.chat.router import decide
        from gemtui.chat.sender import estimate_cost

        def decide_for(request: Any) -> Any:
            cost = request.cost_for or (lambda _m, r=request: estimate_cost(r.turns, r.system))
            return decide(
                self.engine,
                self.project,
                request.preference,
                cost,
                policy="wait" if request.policy == "wait" else "switch",
                threshold_s=request.threshold_s,
            )

        await dispatch_line(self, decide_for)

    async def _run_one(self, record: Record, request: Any, decision: Any) -> None:
        from gemtui.chat.sender import Failed, Finished, Retrying, Routed, Waiting, send

        events = send(request, engine=self.engine, client=self.client, project=self.project, first_decision=decision)
        try:
            async for event in events:
                if isinstance(event, Routed):
                    record.sends.append(self.now())
                elif isinstance(event, Finished):
                    record.outcome, record.done_at = "ok", self.now()
                elif isinstance(event, Failed):
                    record.outcome, record.note, record.done_at = "lost", event.failure.message, self.now()
                elif isinstance(event, Retrying):
                    record.client_429s += 1  # also counts transient retries; none are injected here
                    record.log.append((self.now(), event.reason))
                    if event.until >= self.T:
                        record.note = event.reason
                        break
                elif isinstance(event, Waiting) and event.until >= self.T:
                    record.note = event.reason
                    break
        finally:
            await events.aclose()
            self.running -= 1
            self.wake.set()

    async def stop(self) -> None:
        await super().stop()
        self.engine.close()
        self._tmp.cleanup()


# ---- the common recipe: tenacity -------------------------------------------------------------------------


class TenacityRecipe(Strategy):
    name = "tenacity"

    async def start(self) -> None:
        self.client = self.sdk_client()

    def arrive(self, record: Record) -> None:
        self.spawn(self._one(record))

    async def _scaled_sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    async def _one(self, record: Record) -> None:
        from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_random_exponential

        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=1, max=60),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            retry=retry_if_exception(_retryable),
            sleep=self._scaled_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if self.now() >= self.T:
                        raise PastDeadline
                    record.sends.append(self.now())
                    try:
                        await self.generate(self.client, record)
                    except Exception as exc:
                        if _is_429(exc):
                            record.client_429s += 1
                        raise
            record.outcome, record.done_at = "ok", self.now()
        except PastDeadline:
            record.outcome = "unsent"
        except (RetryError, Exception) as exc:  # noqa: B014 - attempts exhausted or not retryable
            record.outcome, record.note = "lost", type(exc).__name__


# ---- the SDK's HttpRetryOptions ---------------------------------------------------------------------------

_current: contextvars.ContextVar[Record | None] = contextvars.ContextVar("goodput_record", default=None)


class SdkRetry(Strategy):
    name = "sdk-retry"

    async def start(self) -> None:
        from google.genai import types

        # Defaults (google/genai/_api_client.py): attempts 5, initial_delay 1.0, max_delay 60.0, exp_base 2,
        # jitter 1, codes 408/429/500/502/503/504. Only the delays are changed: divided by the speed.
        self.retry_options = types.HttpRetryOptions(
            initial_delay=1.0 / self.speed, max_delay=60.0 / self.speed, jitter=1.0 / self.speed
        )

        async def on_request(request: Any) -> None:
            record = _current.get()
            if record is None or not request.url.path.endswith(":generateContent"):
                return
            if self.now() >= self.T:
                raise PastDeadline
            record.sends.append(self.now())

        async def on_response(response: Any) -> None:
            record = _current.get()
            if record is not None and response.status_code == 429:
                record.client_429s += 1

        self.client = self.sdk_client(
            retry_options=self.retry_options,
            async_client_args={"event_hooks": {"request": [on_request], "response": [on_response]}},
        )

    def arrive(self, record: Record) -> None:
        self.spawn(self._one(record))

    async def _one(self, record: Record) -> None:
        _current.set(record)
        try:
            await self.generate(self.client, record)
            record.outcome, record.done_at = "ok", self.now()
        except PastDeadline:
            record.outcome = "unsent"
        except Exception as exc:  # attempts exhausted (the SDK re-raises the last error)
            if isinstance(exc.__cause__, PastDeadline) or "PastDeadline" in repr(exc):
                record.outcome = "unsent"
            else:
                record.outcome, record.note = "lost", type(exc).__name__


# ---- fixed spacing ---------------------------------------------------------------------------------------


class FixedSpacing(Strategy):
    name = "fixed"

    async def start(self) -> None:
        self.client = self.sdk_client()
        self.line: deque[Record] = deque()
        self.attempts: dict[int, int] = {}
        self.wake = asyncio.Event()
        self.spacing = 60.0 / self.rpm
        self.spawn(self._dispatch())

    def arrive(self, record: Record) -> None:
        self.line.append(record)
        self.wake.set()

    async def _dispatch(self) -> None:
        last = -1e18
        while True:
            while not self.line:
                self.wake.clear()
                await wake_or_timeout(self.wake, self.clock, max(0.0, self.T - self.now()))
                if self.now() >= self.T:
                    return
            await self.sleep_until(last + self.spacing)
            if self.now() >= self.T:
                return
            if not self.line:
                continue
            record = self.line.popleft()
            last = self.now()
            record.sends.append(last)
            self.attempts[record.prompt.index] = self.attempts.get(record.prompt.index, 0) + 1
            self.spawn(self._send(record))

    async def _send(self, record: Record) -> None:
        try:
            await self.generate(self.client, record)
            record.outcome, record.done_at = "ok", self.now()
        except Exception as exc:
            if _retryable(exc) and self.attempts[record.prompt.index] < MAX_ATTEMPTS:
                if _is_429(exc):
                    record.client_429s += 1
                self.line.appendleft(record)
                self.wake.set()
            else:
                if _is_429(exc):
                    record.client_429s += 1
                record.outcome, record.note = "lost", type(exc).__name__


STRATEGIES = {cls.name: cls for cls in (Gemtui, TenacityRecipe, SdkRetry, FixedSpacing)}
