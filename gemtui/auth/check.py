"""`auth test`: one cheap call (a model lookup, no generate quota) that proves key and endpoint work.

The client factory and the error classifier are passed in by the caller (gemini/ sits above auth/
in the layering), so this module never imports the SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gemtui.auth.resolve import ResolvedProfile
from gemtui.errors import one_line

CHECK_MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str  # one line, key and endpoint path masked
    kind: str | None = None  # the classifier's failure kind when not ok (the CLI maps it to an exit status)


def check_profile(
    profile: ResolvedProfile,
    *,
    make_client: Callable[..., Any],
    classify: Callable[..., Any],
    model: str = CHECK_MODEL,
) -> CheckResult:
    """Look up `model` as `profile`; say what answered, or the classified failure in one line."""
    who = f"profile {profile.name!r} ({profile.source}, key {profile.masked_key}, {profile.masked_endpoint})"
    secrets = profile.secrets
    client = None
    try:
        client = make_client(
            api_key=profile.api_key,
            base_url=profile.endpoint,
            api_version=profile.api_version,
            headers=profile.headers,
            proxy=profile.proxy,
        )
        info = client.models.get(model=model)
    except Exception as exc:
        try:
            failure = classify(exc, secrets=secrets)
            message, kind = str(failure.message), str(failure.kind)
        except Exception:  # a classifier bug must not turn into a traceback either
            message, kind = one_line(exc, secrets), "unknown"
        return CheckResult(False, profile.redact(f"{who}: {message}"), kind)
    finally:
        _close(client)
    details = []
    display = getattr(info, "display_name", None)
    if display:
        details.append(str(display))
    limit = getattr(info, "input_token_limit", None)
    if limit:
        details.append(f"input limit {limit:,} tokens")
    extra = f" ({', '.join(details)})" if details else ""
    version = f", API {profile.api_version}" if profile.api_version else ""
    message = f"ok: {who}{version}: the key was accepted and {model} is available{extra}"
    return CheckResult(True, profile.redact(message))


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
