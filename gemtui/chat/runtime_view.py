"""What chat/ needs of the composed runtime and of the SDK client, as types.

The composition root (`gemtui.runtime.Runtime`) sits above chat/ and may not be imported here, so chat/
names the part of it that it reads; a runtime matches by shape. The SDK client is chat/'s true boundary:
chat/ hands it to gemini/ and never builds one, and google.genai is imported for its type only (it is slow
to import, and a start-up never waits for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from google import genai

    from gemtui.chat.sender import Target
    from gemtui.config import Config
    from gemtui.quota.engine import QuotaEngine

SdkClient: TypeAlias = "genai.Client"


class ComposedRuntime(Protocol):
    """A profile composed into what a request needs (`gemtui.runtime.Runtime` is one)."""

    @property
    def engine(self) -> QuotaEngine: ...

    @property
    def project(self) -> str: ...

    @property
    def endpoint(self) -> str | None: ...

    @property
    def api_version(self) -> str | None: ...

    @property
    def config(self) -> Config: ...

    @property
    def client(self) -> SdkClient:
        """Built on first use."""
        ...

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything to scrub from text shown to the user."""
        ...

    def backup_target(self) -> Target | None:
        """The backup profile's target, if there is one."""
        ...
