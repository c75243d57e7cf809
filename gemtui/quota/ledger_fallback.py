"""The team ledger with its answer to an outage: count on this machine's sqlite ledger, or stop.

When the team's Redis cannot be reached (at start or mid-run) with `on_unreachable = "local"`, every call
from then on goes to the local ledger, and one warning line says so (stderr in the CLI, a banner in the
TUI). Nothing is copied either way: the local counts stay local and the team's stay in Redis, so no number
changes silently. The next start tries the team ledger again. With `"stop"` the call raises
`LedgerUnreachable`, whose one line the CLI prints before it exits with its own status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gemtui import storage
from gemtui.errors import one_line
from gemtui.log import get_logger

BANNER = "team ledger unreachable — counting locally"
LOCAL, STOP = "local", "stop"

log = get_logger(__name__)


class LedgerUnreachable(Exception):
    """The team ledger cannot be reached and the config says to stop; the message is one line."""


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What a team ledger that cannot be used raises: connection and timeout errors (and the OS errors
    under them), and a Redis whose keys hold what this gemtui cannot read (another version's layout, a
    key of the wrong type: WRONGTYPE, or values of another shape)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError, ResponseError, KeyError, TypeError, ValueError)


def unreachable_line(where: str, exc: BaseException | None) -> str:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    reason = f": {one_line(exc)}" if exc is not None and str(exc) else ""  # a server's words: masked
    if exc is not None and not isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        what = "unusable (its keys hold data this gemtui cannot read; another version's, or not gemtui's)"
        return f"team ledger {where} {what}{reason}".splitlines()[0]
    return f"team ledger {where} unreachable{reason}".splitlines()[0]


class FallbackLedger:
    """Forwards the `Ledger` protocol to the team ledger until it is unreachable, then follows `policy`.

    `primary` may be None: the team ledger was already unreachable at start. `local` builds the sqlite
    ledger on first need, so a team that never loses its Redis never opens the local file.
    """

    def __init__(
        self,
        primary: Any | None,
        local: Callable[[], Any],
        *,
        policy: str,
        where: str,
        reason: BaseException | None = None,
    ) -> None:
        self.primary = primary
        self._make_local = local
        self._local: Any | None = None
        self.policy = policy
        self.where = where
        self.warnings: list[str] = []
        self.banner: str | None = None
        self._lock = threading.Lock()
        self._errors = unreachable_errors()
        if primary is None:
            self._lost(reason)

    @property
    def description(self) -> str:
        if self.banner is not None:
            return f"local ({BANNER}: {self.where})"
        return getattr(self.primary, "description", "") or f"team ({self.where})"

    @property
    def team(self) -> bool:
        return self.banner is None

    def _lost(self, exc: BaseException | None) -> None:
        """Follow the policy: stop with one line, or go local and say so once."""
        if self.policy == STOP:
            raise LedgerUnreachable(
                f'{unreachable_line(self.where, exc)} — stopping ([ledger] on_unreachable = "stop")'
            )
        with self._lock:
            if self.banner is not None:
                return
            self.banner = BANNER
        line = f"{BANNER} ({unreachable_line(self.where, exc).removeprefix('team ledger ')})"
        self.warnings.append(line)
        log.warning("%s", line)
        storage.announce(line)

    def _ledger(self) -> Any:
        if self.banner is None and self.primary is not None:
            return self.primary
        with self._lock:
            if self._local is None:
                self._local = self._make_local()
                self._local.warnings[:0] = self.warnings
                self.warnings = self._local.warnings
        return self._local

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        ledger = self._ledger()
        if ledger is self.primary:
            try:
                return getattr(ledger, name)(*args, **kwargs)
            except self._errors as exc:
                log.exception("the team ledger failed on %s", name)
                self._lost(exc)
                ledger = self._ledger()
        return getattr(ledger, name)(*args, **kwargs)

    # -- the Ledger protocol ------------------------------------------------------------------------

    def snapshot(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("snapshot", *args, **kwargs)

    def reserve(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("reserve", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("commit", *args, **kwargs)

    def release(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("release", *args, **kwargs)

    def set_block(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set_block", *args, **kwargs)

    def set_learned(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set_learned", *args, **kwargs)

    def set_adjustment(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set_adjustment", *args, **kwargs)

    def clear_adjustment(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("clear_adjustment", *args, **kwargs)

    def get_tier(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get_tier", *args, **kwargs)

    def set_tier(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set_tier", *args, **kwargs)

    def circuit(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("circuit", *args, **kwargs)

    def update_circuit(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("update_circuit", *args, **kwargs)

    def usage_between(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("usage_between", *args, **kwargs)

    def usage_by_day(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("usage_by_day", *args, **kwargs)

    def close(self) -> None:
        for ledger in (self.primary, self._local):
            if ledger is not None:
                try:
                    ledger.close()
                except Exception:  # noqa: BLE001  (closing must not fail the exit)
                    log.exception("closing a ledger failed")
