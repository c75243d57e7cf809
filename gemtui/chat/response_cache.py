"""The response cache: an identical question answered again from disk, at no quota and at once.

Identical means the same provider, the same model, the same contents as sent (every turn, the system
prompt, attachments by their digest) and the same settings that shape an answer; all of it goes through
one canonical JSON text into a sha256, the row's key. Routing fields (preference, policy, threshold)
never shape an answer and stay out of the key.

Only complete answers are kept (never a cut, cancelled or failed one), each with the model that gave it,
its usage and when it was made. Rows older than the TTL are never served and are deleted; beyond the
size cap the least recently used go first. The file lives under the cache dir and is opened through
`gemtui.storage` like every store: a damaged file is moved aside with one warning and a fresh one started.

A served answer is an event of its own (`CachedFinished`, a `Finished`), so every consumer that shows,
stores or writes out an answer marks it "cached" and nothing presents it as fresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemtui import paths
from gemtui.chat.sender import Finished, Request
from gemtui.log import get_logger
from gemtui.storage import Schema, Store
from gemtui.turns import Turn, Usage

logger = get_logger(__name__)

CACHE_VERSION = 1
MAX_MB_DEFAULT = 64
TTL_DAYS_DEFAULT = 30
_ROW_OVERHEAD = 200  # bytes a row costs beyond its text and key (columns, index entry), for the size cap
COMPLETE_REASONS = ("STOP", "stop")  # an answer that names no reason for ending may have been cut: not kept

# Request fields that say how to route a request, not what its answer is: left out of the key.
_ROUTING_FIELDS = frozenset(
    {"turns", "system", "preference", "policy", "threshold_s", "cost_for", "forced_route", "turns_for"}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key            TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    text           TEXT NOT NULL,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    size           INTEGER NOT NULL,
    hits           INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    used_at        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_use ON answers(used_at);
"""

SCHEMA = Schema(
    label="response cache",
    script=_SCHEMA,
    version=CACHE_VERSION,
    required={
        "answers": frozenset(
            {
                "key",
                "provider",
                "model",
                "text",
                "input_tokens",
                "output_tokens",
                "size",
                "hits",
                "created_at",
                "used_at",
            }
        )
    },
    consequence=" (answers are asked afresh until they are cached again)",
)


# ---- the key --------------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """JSON for what `json` cannot write itself: bytes (an attachment) by their digest, dataclasses
    (a turn's parts) by their fields, sets sorted."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest(), "bytes": len(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, Path):
        return str(value)
    if callable(value):
        return None  # a function says how to compute, not what was asked
    raise TypeError(f"cannot key a {type(value).__name__}")


def cache_key(provider: str, model: str, turns: Iterable[Turn], system: str | None, settings: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer."""
    document = {
        "provider": provider,
        "model": model,
        "system": system or None,
        "turns": list(turns),
        "settings": dict(settings),
    }
    text = json.dumps(document, default=_canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def answer_settings(request: Request) -> dict[str, Any]:
    """The request's fields that shape an answer (max output tokens, and any generation setting a
    request carries): every field but the routing ones, so a new setting is in the key by default."""
    return {f.name: getattr(request, f.name) for f in dataclasses.fields(request) if f.name not in _ROUTING_FIELDS}


def turns_sent(request: Request, model: str) -> list[Turn]:
    """What `request` sends to `model` (a conversation plans its history per model)."""
    return request.turns_for(model) if request.turns_for is not None else list(request.turns)


def request_key(provider: str, model: str, request: Request) -> str:
    settings = answer_settings(request)
    if "generation" in settings:  # what that model is sent (a setting it cannot take is adjusted for it)
        settings["generation"] = request.generation_for(model).canonical()
    return cache_key(provider, model, turns_sent(request, model), request.system, settings)


def is_complete(event: Finished) -> bool:
    """An answer worth keeping: it ended by itself, with text, and carries nothing the cache cannot hold."""
    return event.finish_reason in COMPLETE_REASONS and bool(event.text) and not event.images


# ---- the answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedAnswer:
    key: str
    provider: str
    model: str
    text: str
    usage: Usage | None
    created_at: float


@dataclass
class CachedFinished(Finished):
    """An answer served from the response cache: nothing was reserved or sent for it."""

    cached_at: float = 0.0

    @property
    def cached(self) -> bool:
        return True


def is_cached(event: object) -> bool:
    return isinstance(event, CachedFinished)


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    hits: int
    tokens_saved: int  # input + output tokens of every answer served again


class ResponseCache:
    """The cache file: answers by key, TTL and size cap applied on every write."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_mb: float = MAX_MB_DEFAULT,
        ttl_days: float = TTL_DAYS_DEFAULT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path or paths.response_cache_file()
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.ttl_s = ttl_days * 86400.0
        self.warnings: list[str] = []
        self._clock = clock
        self._store = Store(self.path, SCHEMA, clock=clock, warnings=self.warnings)

    def close(self) -> None:
        self._store.close()

    def get(self, key: str, *, touch: bool = True) -> CachedAnswer | None:
        """The answer stored under `key` if it is younger than the TTL; a hit counts as a use (LRU)
        unless `touch` is false (a dispatcher only looking)."""
        now = self._clock()
        row = self._store.execute(
            "SELECT key, provider, model, text, input_tokens, output_tokens, created_at FROM answers "
            "WHERE key = ? AND created_at > ?",
            (key, now - self.ttl_s),
        ).fetchone()
        if row is None:
            return None
        if touch:
            self._store.execute("UPDATE answers SET hits = hits + 1, used_at = ? WHERE key = ?", (now, key))
        usage = Usage(input_tokens=row[4], output_tokens=row[5]) if row[4] is not None or row[5] is not None else None
        return CachedAnswer(row[0], row[1], row[2], row[3], usage, row[6])

    def put(self, key: str, provider: str, model: str, text: str, usage: Usage | None) -> None:
        now = self._clock()
        size = len(text.encode("utf-8")) + len(key) + _ROW_OVERHEAD
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answers(key, provider, model, text, input_tokens, output_tokens, size, hits,"
                " created_at, used_at) VALUES (?,?,?,?,?,?,?,0,?,?)",
                (
                    key,
                    provider,
                    model,
                    text,
                    usage.input_tokens if usage else None,
                    usage.output_tokens if usage else None,
                    size,
                    now,
                    now,
                ),
            )
            self._evict(conn, now)

    def _evict(self, conn: Any, now: float) -> None:
        """Expired rows go; then the least recently used until the rest fits under the cap."""
        conn.execute("DELETE FROM answers WHERE created_at <= ?", (now - self.ttl_s,))
        total = conn.execute("SELECT COALESCE(SUM(size), 0) FROM answers").fetchone()[0]
        if total <= self.max_bytes:
            return
        for key, size in conn.execute("SELECT key, size FROM answers ORDER BY used_at, created_at").fetchall():
            conn.execute("DELETE FROM answers WHERE key = ?", (key,))
            total -= size
            if total <= self.max_bytes:
                break

    def clear(self) -> int:
        """Forget every answer; returns how many there were."""
        return self._store.execute("DELETE FROM answers").rowcount

    def stats(self) -> CacheStats:
        row = self._store.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0), "
            "COALESCE(SUM(hits * (COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0))), 0) FROM answers "
            "WHERE created_at > ?",
            (self._clock() - self.ttl_s,),
        ).fetchone()
        return CacheStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


# ---- how a turn runner uses it --------------------------------------------------------------------


class CacheUse:
    """The response cache as one runner (or one app) uses it: `enabled` serves and keeps answers;
    while off, an answer already kept can still be offered when every model must wait (`offer`).

    The file is opened on first use, so a command that never needs it never creates it; while the cache
    is off, a missing file is not created just to look into it."""

    def __init__(
        self,
        opener: Callable[[], ResponseCache],
        *,
        enabled: bool,
        offer: bool = True,
        path: Path | None = None,
    ) -> None:
        self._opener = opener
        self._cache: ResponseCache | None = None
        self.enabled = enabled
        self.offer = offer
        self.path = path
        self.hits = 0
        self.stored = 0

    @classmethod
    def from_config(
        cls, config: Any, *, flag: bool | None = None, default: bool = False, clock: Callable[[], float] = time.time
    ) -> CacheUse:
        """`[cache]` settings. On or off: a command's flag (`--cache`/`--no-cache`), else `[cache] enabled`
        when the file sets it, else `default` (off for chat, on for a batch). `--no-cache` also refuses
        the offer of a kept answer while waiting."""
        settings = config.cache
        enabled = flag if flag is not None else bool(config.section("cache").get("enabled", default))
        path = paths.response_cache_file()
        return cls(
            lambda: ResponseCache(path, max_mb=settings["max_mb"], ttl_days=settings["ttl_days"], clock=clock),
            enabled=enabled,
            offer=flag is not False,
            path=path,
        )

    def open(self, create: bool = True) -> ResponseCache | None:
        if self._cache is None:
            if not create and (self.path is None or not self.path.exists()):
                return None
            self._cache = self._opener()
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def lookup(
        self,
        request: Request,
        models: Iterable[str],
        *,
        provider: str,
        create: bool = True,
        touch: bool = True,
    ) -> CachedAnswer | None:
        """The first of `models` (in routing order) that has answered this very request on `provider` (the
        server: `Runtime.cache_scope`)."""
        cache = self.open(create)
        if cache is None:
            return None
        for model in models:
            hit = cache.get(request_key(provider, model, request), touch=touch)
            if hit is not None:
                return hit
        return None

    def keep(self, request: Request, event: Finished, *, provider: str) -> None:
        """Store a fresh, complete answer under the request as sent to the model that gave it, on `provider`."""
        if is_cached(event) or not is_complete(event):
            return
        cache = self.open()
        assert cache is not None
        cache.put(request_key(provider, event.model, request), provider, event.model, event.text, event.usage)
        self.stored += 1

    def clear(self) -> int:
        cache = self.open(create=False)
        return cache.clear() if cache is not None else 0


def served(hit: CachedAnswer) -> CachedFinished:
    """The event that shows a cached answer: its model and usage as they were, nothing spent now."""
    return CachedFinished(
        model=hit.model,
        text=hit.text,
        usage=hit.usage,
        latency_s=0.0,
        finish_reason="STOP",
        note="answered from the response cache",
        cached_at=hit.created_at,
    )
