"""The composition root: everything a request needs, built once from a profile — the engine, the SDK client,
the project. It sits at the top of the package (above chat/, auth/, gemini/ and quota/) because it is the one
place that wires them together; only the CLI commands and the TUI import it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemtui.auth.endpoints import mask_endpoint
from gemtui.auth.resolve import profile_secrets
from gemtui.chat.sender import Target
from gemtui.config import Config
from gemtui.log import add_secrets
from gemtui.quota.breaker import DEFAULT_ENDPOINT, BreakerPolicy
from gemtui.quota.clock import Clock
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.limits import LimitTable


@dataclass
class Runtime:
    profile_name: str
    project: str
    tier: str
    api_key: str = field(repr=False)
    endpoint: str | None
    api_version: str | None
    engine: QuotaEngine
    config: Config
    _client: Any = field(default=None, repr=False)
    backup: Runtime | None = None  # a backup profile, used only when this one cannot admit in time
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # custom headers (values secret)
    proxy: str | None = field(default=None, repr=False)  # None: HTTPS_PROXY/ALL_PROXY apply, if set
    api: str = "gemini"  # the wire this profile speaks: "gemini" or "openai"
    # Providers other profiles lend the route chain (`profile:model` links), built on first use.
    links: dict[str, Callable[[], Any]] = field(default_factory=dict, repr=False)

    @property
    def client(self) -> Any:
        """The SDK client (a switchboard over providers when the chain or the profile needs one), built
        on first use so start-up never waits for an SDK's import."""
        if self._client is None:
            from gemtui.runtime_links import client_for

            self._client = client_for(self)
        return self._client

    @property
    def cache_scope(self) -> str:
        """Which server answers, for the response cache's key: the API and a digest of the endpoint (a
        relay's URL may hold a token). An answer kept from one server is never served for another."""
        import hashlib

        where = hashlib.sha256((self.endpoint or "default").encode("utf-8")).hexdigest()[:16]
        return f"{self.api}@{where}"

    def target(self) -> Target:
        return Target(self.engine, self.client, self.project, self.profile_name, self.secrets)

    def backup_target(self) -> Target | None:
        return self.backup.target() if self.backup is not None else None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything to scrub from text shown to the user: the key (masked); each token-bearing part of
        a relay URL, every custom header value and the proxy's credentials (hidden whole)."""
        return profile_secrets(self.api_key, self.endpoint, self.headers, self.proxy)


def breaker_endpoint(endpoint: str | None) -> str:
    """The circuit breaker's name for an endpoint, as stored in the ledger: "default" for the official API;
    for a relay its scheme and host with a digest of the whole URL, so two relays on one host keep apart
    breakers and no path or query token reaches the file."""
    if not endpoint:
        return DEFAULT_ENDPOINT
    return f"{mask_endpoint(endpoint)} #{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}"


def build_runtime(
    *,
    profile_name: str,
    project: str,
    tier: str,
    api_key: str,
    endpoint: str | None,
    api_version: str | None,
    config: Config,
    clock: Clock | None = None,
    ledger_path: Path | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    proxy: str | None = None,
    api: str = "gemini",
    links: dict[str, Callable[[], Any]] | None = None,
    profile_limits: dict[str, dict[str, int | str]] | None = None,
) -> Runtime:
    from gemtui import paths
    from gemtui.team_ledger import open_ledger

    # The team's Redis when [ledger] url names one (its clock then), else this machine's sqlite file.
    ledger, clock = open_ledger(
        config, project, ledger_path=ledger_path or paths.ledger_file(), history_days=config.history_days, clock=clock
    )
    engine = QuotaEngine(
        ledger,
        clock=clock,
        # the config file's [limits] win over what a profile sets for its models
        table=LimitTable(overrides={**(profile_limits or {}), **config.limit_overrides}),
        tier=tier,
        history_days=config.history_days,
        endpoint=breaker_endpoint(endpoint),
        breaker_policy=BreakerPolicy(**config.breaker),
    )
    runtime = Runtime(
        profile_name,
        project,
        tier,
        api_key,
        endpoint,
        api_version,
        engine,
        config,
        headers=tuple(headers),
        proxy=proxy,
        api=api,
        links=dict(links or {}),
    )
    add_secrets(*runtime.secrets)  # from here on the log file masks them, tracebacks included
    return runtime


def runtime_for_profile(
    profile: Any,
    config: Config,
    *,
    endpoint: str | None = None,
    api_version: str | None = None,
    clock: Clock | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Runtime:
    """The Runtime a resolved profile sends as, with its backup profile's Runtime when it names one.

    A command-line endpoint / API version win over the profile's, command-line headers over the
    profile's headers of the same name; the backup keeps its own.
    """
    from gemtui.auth.headers import merge_headers
    from gemtui.auth.resolve import resolve_backup
    from gemtui.runtime_links import chain_links, profile_limits

    def build(
        p: Any,
        endpoint: str | None = None,
        api_version: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        links: dict[str, Callable[[], Any]] | None = None,
    ) -> Runtime:
        own_model = getattr(p, "model", None) if getattr(p, "api", "gemini") == "openai" else None
        return build_runtime(
            profile_name=p.name,
            project=p.project,
            tier=p.tier,
            api_key=p.api_key,
            endpoint=endpoint or p.endpoint,
            api_version=api_version or p.api_version,
            config=config,
            clock=clock,
            headers=merge_headers(p.headers, extra),
            proxy=p.proxy,
            api=getattr(p, "api", "gemini"),
            links=links,
            profile_limits=profile_limits(config, p.name, own_model),
        )

    own_model = getattr(profile, "model", None) if getattr(profile, "api", "gemini") == "openai" else None
    runtime = build(profile, endpoint, api_version, tuple(headers), chain_links(config, profile.name, own_model))
    backup = resolve_backup(profile, config=config)
    if backup is not None:
        runtime.backup = build(backup)
    return runtime
