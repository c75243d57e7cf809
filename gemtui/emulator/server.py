"""`Emulator`: the in-process handle tests, benchmarks and `--demo` use; uvicorn runs in a daemon thread."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable

from gemtui.emulator.state import EmulatorState


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietWhileStopping(logging.Filter):
    """Stopping a server on purpose cancels the streams still open (after the 1 s grace), and uvicorn
    logs each as "Exception in ASGI application" with a 35-line traceback: expected, not an error.
    Records from a stopping emulator's server thread are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.threads


_QUIET = _QuietWhileStopping()
logging.getLogger("uvicorn.error").addFilter(_QUIET)


class Emulator:
    """A Gemini API emulator on a real loopback socket.

    `start()` returns once the server listens; `base_url` is then `http://HOST:PORT`. Everything that
    shapes behaviour (time, pacing, tiers, limits, faults, invisible usage) is a method here, so a test
    changes the server's world without touching HTTP.
    """

    def __init__(
        self,
        tier: str = "free",
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        epoch: float | None = None,
        clock: Callable[[], float] | None = None,
        ttft_s: float = 0.3,
        tokens_per_s: float = 250.0,
        keys: dict[str, str] | None = None,
        seed: int = 0,
        models: str | tuple[str, ...] | list[str] = "default",
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the emulator serves loopback only, not {host!r}")
        self.host = host
        self.port = int(port)
        self.state = EmulatorState(
            tier=tier,
            speed=speed,
            epoch=epoch,
            clock=clock,
            ttft_s=ttft_s,
            tokens_per_s=tokens_per_s,
            keys=keys,
            seed=seed,
            models=models,
        )
        self._server = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Emulator:
        if self._thread is not None:
            return self
        import uvicorn

        from gemtui.emulator.app import build_app

        # uvicorn binds (port 0 = any free port): its sockets get TCP_NODELAY, without which every
        # keep-alive response waits ~40 ms on delayed ACKs.
        config = uvicorn.Config(
            build_app(self.state),
            host=self.host,
            port=self.port,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gemtui-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start listening")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        ident = self._thread.ident
        if ident is not None:
            _QUIET.threads.add(ident)
        try:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        finally:
            if not self._thread.is_alive():
                _QUIET.threads.discard(ident)  # a later thread may reuse the id
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # time and pacing -------------------------------------------------------------------------------------
    def now(self) -> float:
        """Emulator time, epoch seconds."""
        return self.state.now()

    def set_pacing(self, ttft_s: float | None = None, tokens_per_s: float | None = None) -> None:
        self.state.set_pacing(ttft_s=ttft_s, tokens_per_s=tokens_per_s)

    # keys, tiers, limits ---------------------------------------------------------------------------------
    def add_key(self, key: str, project: str, status: str = "valid") -> None:
        self.state.add_key(key, project, status)

    def set_models(self, models: str | tuple[str, ...] | list[str]) -> None:
        """Serve this model list: "default" (2.5 family newest), "current" (Gemini 3 too), or ids."""
        self.state.set_models(models)

    def set_tier(self, project: str, tier: str) -> None:
        self.state.set_tier(project, tier)

    def set_limits(
        self,
        model: str,
        tier: str,
        rpm: int | None = None,
        tpm: int | None = None,
        rpd: int | None = None,
        ipm: int | None = None,
    ) -> None:
        """Overrides the table for (model, tier): None leaves a dimension alone, a negative value lifts it."""
        self.state.set_limits(model, tier, rpm=rpm, tpm=tpm, rpd=rpd, ipm=ipm)

    def limits(self, model: str, project: str = "demo") -> dict[str, int | None]:
        """The limits the emulator enforces for `project` on `model` (after tier and overrides)."""
        lim = self.state.limits_for(model, self.state.tier_of(project))
        return {"rpm": lim.rpm, "tpm": lim.tpm, "rpd": lim.rpd, "ipm": lim.ipm}

    # faults and invisible usage --------------------------------------------------------------------------
    def set_fault(
        self,
        kind: str,
        count: int = 1,
        after_chunks: int = 2,
        seconds: float = 5.0,
        model: str | None = None,
        echo: str = "",
    ) -> None:
        self.state.set_fault(kind, count=count, after_chunks=after_chunks, seconds=seconds, model=model, echo=echo)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    # relay mode ------------------------------------------------------------------------------------------
    def set_relay(
        self, prefix: str = "", header: str | tuple[str, str] | None = None, query: dict[str, str] | str | None = None
    ) -> None:
        """Serve as a relay would: Gemini routes only under `prefix`, only with `header` ("Name: value")
        and the `query` parameters; otherwise the relay's own HTML 404/401/403 pages."""
        self.state.set_relay(prefix=prefix, header=header, query=query)

    def clear_relay(self) -> None:
        self.state.clear_relay()

    def relay_status(self) -> dict:
        """`{"relay": {"prefix", "header" (name only), "query" (names)} or None, "counts": {...}}`."""
        return self.state.relay_status()

    def add_invisible_usage(self, project: str, model: str, requests: int = 1, input_tokens: int = 0) -> None:
        self.state.add_invisible_usage(project, model, requests=requests, input_tokens=input_tokens)

    def set_ghost(self, project: str, model: str, rpm: float = 2.0, input_tokens: int = 1000) -> None:
        self.state.set_ghost(project, model, rpm=rpm, input_tokens=input_tokens)

    # observation -----------------------------------------------------------------------------------------
    def counters(self) -> dict:
        return self.state.counters()

    def generation_log(self) -> list[dict]:
        """Each generate request's model, systemInstruction and generation config as received, oldest
        first: temperature, topP, maxOutputTokens, thinkingBudget (None when not sent)."""
        return self.state.generation_log()

    def requests(self) -> list[dict]:
        """Every generate/countTokens request received (newest last): method, model, and per content
        its role and parts — kind (`text`, `inline:image/png`, …), size and sha256 of each."""
        return self.state.requests()

    def set_openai_limits(
        self,
        requests: int | None | str = "keep",
        tokens: int | None | str = "keep",
        window_s: float | None = None,
        models: list[str] | None = None,
        usage_in_streams: bool | None = None,
        ends_without_finish: bool | None = None,
    ) -> None:
        """The OpenAI-compatible side's per-key limits (None or negative: no limit), window and models;
        `usage_in_streams=False` plays a server that refuses `stream_options` with a 400;
        `ends_without_finish=True` one whose streams close before the chunk naming the finish reason."""
        self.state.openai.configure(
            requests=requests,
            tokens=tokens,
            window_s=window_s,
            models=models,
            usage_in_streams=usage_in_streams,
            ends_without_finish=ends_without_finish,
        )

    def openai_counters(self) -> dict:
        return self.state.openai.counters()

    def openai_requests(self) -> list[dict]:
        """Each chat request the OpenAI-compatible side received: model, temperature, top_p, max_tokens
        and the kinds of its content parts (`text`, `image_url`), oldest first."""
        with self.state.openai.lock:
            return [dict(entry) for entry in self.state.openai.received]

    @property
    def openai_base_url(self) -> str:
        """Where the OpenAI SDK points (`base_url`): the server's `/v1`."""
        return f"{self.base_url}/v1"

    def reset(self, everything: bool = False) -> None:
        """Clears usage, faults and ghosts; with `everything`, also keys, tiers, limits and pacing
        go back to their constructor values (a session-wide server shared by many tests)."""
        self.state.reset(everything=everything)
