"""`--api openai` without a profile: a runtime on an OpenAI-compatible endpoint, keyed by OPENAI_API_KEY."""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlsplit

from gemtui.config import Config

DEFAULT_ENDPOINT = "https://api.openai.com/v1"
ENV_KEY = "OPENAI_API_KEY"


def openai_runtime(
    args: argparse.Namespace, config: Config, endpoint: str | None, headers: tuple[tuple[str, str], ...]
) -> Any:
    """The runtime `gemtui ask --api openai --endpoint URL --model ID` sends as. A missing key or model is
    one line (AuthError / ValueError), never a request sent blind."""
    from gemtui.auth.endpoints import validate_endpoint
    from gemtui.auth.errors import AuthError
    from gemtui.runtime import build_runtime

    key = os.environ.get(ENV_KEY, "").strip()
    if not key:
        raise AuthError(
            f"--api openai needs a key: set {ENV_KEY}, or add a profile with "
            "`gemtui auth add NAME --api openai --endpoint URL`"
        )
    if getattr(args, "model", None) in (None, "", "auto"):
        raise ValueError("--api openai needs --model ID (the server's model name, e.g. deepseek-chat)")
    endpoint = validate_endpoint(endpoint or DEFAULT_ENDPOINT)
    host = urlsplit(endpoint).hostname or "openai"
    return build_runtime(
        profile_name="openai",
        project=f"openai@{host}",
        tier="free",
        api_key=key,
        endpoint=endpoint,
        api_version=None,
        config=config,
        headers=headers,
        api="openai",
    )
