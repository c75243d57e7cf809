"""Which quota ledger a runtime counts on: the team's Redis when `[ledger] url` or GEMTUI_LEDGER_URL names
one, else this machine's sqlite file. The Redis password comes from the keyring (`[ledger] password_secret`
names the entry), never from the config file; every message shows the URL without credentials.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gemtui.config import Config
from gemtui.log import add_secrets, get_logger
from gemtui.quota.clock import Clock
from gemtui.quota.ledger import SqliteLedger
from gemtui.quota.ledger_fallback import FallbackLedger, unreachable_errors

DEFAULT_TIMEOUT_S = 2.0

log = get_logger(__name__)


def ledger_url(config: Config) -> str | None:
    return str(config.ledger.get("url") or "").strip() or None


def shown_url(url: str) -> str:
    """The URL as messages show it: scheme, host, port and database, without user or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "the configured Redis URL"


def machine_id(ledger_path: Path) -> str:
    """This machine's name in the team ledger: the host and a digest of its data folder (two users on one
    host, or a test's separate data folders, are separate machines)."""
    digest = hashlib.sha256(str(ledger_path.parent.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}/{digest}"


def ledger_password(config: Config) -> str | None:
    name = config.ledger.get("password_secret")
    if not name:
        return None
    from gemtui.auth.secrets import LEDGER_PASSWORD, open_store

    return open_store(config).get(str(name), LEDGER_PASSWORD)


def connect(url: str, *, password: str | None, timeout_s: float) -> Any:
    """A redis-py client on `url` that fails fast (one quick retry) rather than hanging a turn."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 1),
    }
    if password:
        options["password"] = password
    try:
        return redis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise ValueError(f"[ledger] url {shown_url(url)}: {exc}") from None


def open_ledger(
    config: Config, project: str, *, ledger_path: Path, history_days: int, clock: Clock | None = None
) -> tuple[Any, Clock | None]:
    """(ledger, clock): the sqlite ledger and the given clock when no team ledger is configured; else the
    team ledger behind its outage policy, and the Redis server's clock unless a clock was given (tests).

    An unreachable server at start follows `on_unreachable` here already: "stop" raises LedgerUnreachable.
    """
    url = ledger_url(config)

    def local() -> SqliteLedger:
        return SqliteLedger(ledger_path, clock, history_days=history_days)

    if url is None:
        return local(), clock
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError(f"GEMTUI_LEDGER_URL {shown_url(url)} is not a redis:// or rediss:// URL")
    settings = config.ledger
    where = shown_url(url)
    password = ledger_password(config)
    parts = urlsplit(url)
    add_secrets(*(s for s in (password, parts.password) if s))
    client = connect(url, password=password, timeout_s=float(settings.get("timeout_s", DEFAULT_TIMEOUT_S)))
    from gemtui.quota.ledger_redis import DEFAULT_LEASE_MS, RedisLedger

    lease_ms = round(float(settings.get("lease_s", DEFAULT_LEASE_MS / 1000)) * 1000)
    make_team: Callable[[], RedisLedger] = lambda: RedisLedger(  # noqa: E731
        client,
        project,
        owner=machine_id(ledger_path),
        clock=clock,
        lease_ms=lease_ms,
        history_days=history_days,
        description=f"team ({where}, project {project})",
    )
    policy = str(settings.get("on_unreachable", "local"))
    try:
        client.ping()
        team = make_team()
        if clock is None:
            team.clock.measure()  # type: ignore[attr-defined]
    except unreachable_errors() as exc:
        log.exception("the team ledger %s is unreachable at start", where)
        client.close()
        ledger = FallbackLedger(None, local, policy=policy, where=where, reason=exc)
        return ledger, clock
    return FallbackLedger(team, local, policy=policy, where=where), clock or team.clock


def describe(ledger: Any) -> str:
    """`team (redis://host:6379/0, project p)` or `local (/path/ledger.sqlite3)`: what `gemtui quota` reads."""
    text = getattr(ledger, "description", "")
    if text:
        return str(text)
    path = getattr(ledger, "path", None)
    return f"local ({path})" if path is not None else "local"
