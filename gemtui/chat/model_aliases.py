"""`pro`, `flash` and `lite` mean the newest model of that family the server lists — not the ids of the year
gemtui was written.

The newest is the highest version that supports generateContent; at the same version a stable id beats a
preview (`gemini-3-pro` over `gemini-3-pro-preview`), and a higher version beats both
(`gemini-3-pro-preview` over `gemini-2.5-pro`). The server's list is cached for a day per endpoint, so
start-up asks at most once a day; a pin in the config (`[models] pro = "gemini-2.5-pro"`) wins over it.
Where the list cannot be had (offline, a relay without `models.list`), the aliases keep the 2.5 models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gemtui.chat.runtime_view import ComposedRuntime, SdkClient
from gemtui.quota.limits import DEFAULT_ALIASES, FAMILIES, use_aliases

if TYPE_CHECKING:
    from google.genai.types import ListModelsConfigDict

log = logging.getLogger(__name__)

CACHE_TTL_S = 24 * 3600
LIST_TIMEOUT_S = 5.0
GENERATE = "generateContent"

# gemini-<version>-<family>[-preview|-exp[-date]|-NNN]; anything else (tts, image, audio, live) is no family.
_FAMILY_ID = re.compile(
    r"^gemini-(?P<version>\d+(?:\.\d+)*)-(?P<family>pro|flash-lite|flash)"
    r"(?:(?P<preview>-(?:preview|exp)(?:-[0-9-]+)?)|(?P<build>-\d{3}))?$"
)
_FAMILY_OF = {"pro": "pro", "flash": "flash", "flash-lite": "lite"}


@dataclass(frozen=True)
class Resolution:
    """What the aliases mean now, and where that came from ("server", "cache", "config" or "built-in")."""

    aliases: dict[str, str]
    source: str
    models: tuple[str, ...] = ()  # the server's ids that generate content (empty if unknown)
    pinned: tuple[str, ...] = ()  # families the config pins
    problem: str = field(default="", compare=False)  # why the server's list was not used, one line


def _rank(match: re.Match[str]) -> tuple[tuple[int, ...], int, int, str]:
    version = tuple(int(part) for part in match["version"].split("."))
    stable = 0 if match["preview"] else 1
    bare = 0 if match["build"] else 1  # gemini-2.0-flash before gemini-2.0-flash-001
    return version, stable, bare, match["preview"] or ""


def newest_by_family(model_ids: Iterable[str]) -> dict[str, str]:
    """Family → the newest id of it among `model_ids` (families with none are left out)."""
    best: dict[str, tuple[tuple[tuple[int, ...], int, int, str], str]] = {}
    for raw in model_ids:
        model = raw.strip().removeprefix("models/")
        match = _FAMILY_ID.match(model)
        if match is None:
            continue
        family = _FAMILY_OF[match["family"]]
        rank = _rank(match)
        if family not in best or rank > best[family][0]:
            best[family] = (rank, model)
    return {family: model for family, (_rank_, model) in best.items()}


def choose(server_ids: Iterable[str], pins: Mapping[str, str]) -> dict[str, str]:
    """Pins first, then the server's newest, then the 2.5 models, for each family."""
    newest = newest_by_family(server_ids)
    return {family: pins.get(family) or newest.get(family) or DEFAULT_ALIASES[family] for family in FAMILIES}


# -- the server's list, cached ---------------------------------------------------------------------------


def cache_path(endpoint: str | None, api_version: str | None) -> Path:
    """One file per endpoint; its name is a digest, so no relay URL (or token in it) reaches the disk."""
    from gemtui import paths

    key = f"{endpoint or 'default'}|{api_version or ''}"
    return paths.cache_dir() / f"models-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def read_cache(path: Path, now: float) -> tuple[str, ...] | None:
    """The cached ids while younger than a day; None when missing, stale or unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        fetched = float(document["fetched_at"])
        models = document["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (0 <= now - fetched < CACHE_TTL_S) or not isinstance(models, list):
        return None
    return tuple(m for m in models if isinstance(m, str))


def write_cache(path: Path, models: Iterable[str], now: float) -> None:
    """Atomically, 0600 (the list says which models a key may use). Lists older than a day go: every
    `--demo` run's emulator has a port, and so a file, of its own."""
    from gemtui.storage import write_private

    write_private(path, json.dumps({"fetched_at": now, "models": list(models)}))
    for old in path.parent.glob("models-*.json"):
        try:
            if old != path and now - old.stat().st_mtime > CACHE_TTL_S:
                old.unlink()
        except OSError:  # another process pruned it first
            continue


def generate_ids(infos: Iterable[object]) -> tuple[str, ...]:
    """Ids of the listed models that can generate content. A model whose entry says nothing about its
    methods (some relays strip the field) is kept: the server would refuse it by name, not by silence."""
    ids = []
    for info in infos:
        name = (getattr(info, "name", None) or "").removeprefix("models/")
        actions = getattr(info, "supported_actions", None)
        if name and (actions is None or GENERATE in actions):
            ids.append(name)
    return tuple(dict.fromkeys(ids))


def list_models(client: SdkClient, timeout_s: float = LIST_TIMEOUT_S) -> tuple[str, ...]:
    """The server's generate-capable ids (`models.list`, all pages), with a short timeout."""
    config: ListModelsConfigDict = {"page_size": 1000, "http_options": {"timeout": int(timeout_s * 1000)}}
    return generate_ids(client.models.list(config=config))


def server_models(
    runtime: ComposedRuntime, *, refresh: bool = False, now: float | None = None
) -> tuple[tuple[str, ...], str]:
    """(ids, "cache" | "server") for the runtime's endpoint; raises what listing raised."""
    now = time.time() if now is None else now
    path = cache_path(runtime.endpoint, runtime.api_version)
    cached = None if refresh else read_cache(path, now)
    if cached is not None:
        return cached, "cache"
    ids = list_models(runtime.client)
    try:
        write_cache(path, ids, now)
    except OSError:
        log.exception("could not cache the server's model list")
    return ids, "server"


def resolve(
    runtime: ComposedRuntime, pins: Mapping[str, str] | None = None, *, refresh: bool = False, now: float | None = None
) -> Resolution:
    """What `pro`/`flash`/`lite` mean for this runtime; never raises (a failure keeps the 2.5 models)."""
    pins = dict(pins if pins is not None else getattr(runtime.config, "model_pins", {}) or {})
    pinned = tuple(f for f in FAMILIES if pins.get(f))
    if len(pinned) == len(FAMILIES):
        return Resolution(choose((), pins), "config", pinned=pinned)
    try:
        ids, source = server_models(runtime, refresh=refresh, now=now)
    except Exception as exc:  # offline, a relay without a model list, a locked cache: the 2.5 models
        from gemtui.errors import one_line

        log.warning("model list unavailable, aliases keep the built-in models", exc_info=True)
        return Resolution(
            choose((), pins), "built-in", pinned=pinned, problem=one_line(exc, getattr(runtime, "secrets", ()))
        )
    return Resolution(choose(ids, pins), source, ids, pinned)


def resolve_and_use(
    runtime: ComposedRuntime, pins: Mapping[str, str] | None = None, *, refresh: bool = False, now: float | None = None
) -> Resolution:
    """Resolve, and point the process's aliases (and so the fallback chain) at the result."""
    resolution = resolve(runtime, pins, refresh=refresh, now=now)
    use_aliases(resolution.aliases)
    log.info(
        "model aliases from %s: %s", resolution.source, ", ".join(f"{k}={v}" for k, v in resolution.aliases.items())
    )
    return resolution
