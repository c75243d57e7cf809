"""Everything a request needs, built once from a profile: the engine, the SDK client, the project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemtui.auth.endpoints import endpoint_secrets
from gemtui.chat.sender import Target
from gemtui.config import Config
from gemtui.gemini.client import make_client
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

    @property
    def client(self) -> Any:
        """The SDK client, built on first use so start-up never waits for google.genai."""
        if self._client is None:
            self._client = make_client(self.api_key, self.endpoint, self.api_version)
        return self._client

    def target(self) -> Target:
        return Target(self.engine, self.client, self.project, self.profile_name, self.secrets)

    def backup_target(self) -> Target | None:
        return self.backup.target() if self.backup is not None else None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything to scrub from text shown to the user: the key, and each token-bearing part of a relay URL."""
        return tuple(s for s in (self.api_key, self.endpoint, *endpoint_secrets(self.endpoint)) if s)


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
) -> Runtime:
    engine = QuotaEngine(
        clock=clock,
        table=LimitTable(overrides=config.limit_overrides),
        tier=tier,
        ledger_path=ledger_path,
    )
    return Runtime(profile_name, project, tier, api_key, endpoint, api_version, engine, config)


def runtime_for_profile(
    profile: Any,
    config: Config,
    *,
    endpoint: str | None = None,
    api_version: str | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """The Runtime a resolved profile sends as, with its backup profile's Runtime when it names one.

    A command-line endpoint / API version win over the profile's; the backup keeps its own.
    """
    from gemtui.auth.resolve import resolve_backup

    def build(p: Any, endpoint: str | None = None, api_version: str | None = None) -> Runtime:
        return build_runtime(profile_name=p.name, project=p.project, tier=p.tier, api_key=p.api_key,
                             endpoint=endpoint or p.endpoint, api_version=api_version or p.api_version,
                             config=config, clock=clock)

    runtime = build(profile, endpoint, api_version)
    backup = resolve_backup(profile, config=config)
    if backup is not None:
        runtime.backup = build(backup)
    return runtime
