"""Shared by the sub-commands: options every command takes, and turning them into a Runtime."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from gemtui.config import Config, load_config


def add_header_option(parser: argparse.ArgumentParser) -> None:
    """`--header 'Name: value'`, repeatable: sent on every request (values are masked like the key)."""
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header on every request (repeatable; e.g. a relay's own key)",
    )


def parse_header_args(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    from gemtui.auth.headers import merge_headers, parse_header

    return merge_headers([parse_header(v) for v in values or []])


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """--profile/--demo/--model/--endpoint/--api-version, also accepted after the sub-command."""
    sup = argparse.SUPPRESS
    parser.add_argument("--profile", default=sup, help="send as this profile (see `gemtui auth list`)")
    parser.add_argument("--demo", action="store_true", default=sup, help="use the bundled emulator (no key)")
    parser.add_argument(
        "--model",
        default=sup,
        help="auto (default: the route chain), pro, flash, lite, a full model id, or profile:model",
    )
    parser.add_argument("--endpoint", default=sup, metavar="URL", help="relay base URL instead of the official API")
    parser.add_argument("--api-version", default=sup, help="API version path, e.g. v1beta")
    parser.add_argument(
        "--api",
        choices=("gemini", "openai"),
        default=sup,
        help="the wire: gemini (default) or openai (an OpenAI-compatible --endpoint; "
        "key from OPENAI_API_KEY unless --profile names one)",
    )


class CommandExit(Exception):
    """A command stops here with `code`; its one-line reason was already printed (cli.main returns the code)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def require_config() -> Config:
    """The config file, or a one-line error and exit status 2 (a broken file is never overwritten)."""
    from gemtui import exitcodes
    from gemtui.config import ConfigError

    try:
        return load_config()
    except ConfigError as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        raise CommandExit(exitcodes.EXIT_USAGE) from None


def require_runtime(args: argparse.Namespace, config: Config) -> Opened:
    """`open_runtime`, or a one-line error (no key, bad profile or endpoint) and its exit status."""
    from gemtui.auth.errors import AuthError

    try:
        return open_runtime(args, config)
    except (AuthError, ValueError) as exc:
        print(f"gemtui: {exc}", file=sys.stderr)
        raise CommandExit(setup_exit_code(exc)) from None


def setup_exit_code(exc: Exception) -> int:
    """Status for a failure to set up a runtime: a bad endpoint or profile name is usage, the rest auth."""
    from gemtui import exitcodes
    from gemtui.auth.errors import AuthError, EndpointError, ProfileError

    if isinstance(exc, AuthError) and not isinstance(exc, EndpointError | ProfileError):
        return exitcodes.EXIT_AUTH
    return exitcodes.EXIT_USAGE


@dataclass
class Opened:
    runtime: Any
    emulator: Any = None

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()


def open_runtime(args: argparse.Namespace, config: Config | None = None, *, resolve_models: bool = True) -> Opened:
    """Build the Runtime the arguments ask for; starts the in-process emulator for --demo. With
    `resolve_models` the aliases follow the endpoint's model list before it returns (the TUI passes
    False and resolves them after the runtime is ready, so its first message never waits for it)."""
    from gemtui.runtime import build_runtime

    config = config or load_config()
    endpoint = getattr(args, "endpoint", None)
    api_version = getattr(args, "api_version", None)
    headers = parse_header_args(getattr(args, "header", None))
    if getattr(args, "demo", False):
        from gemtui.commands._demo import DEMO_KEY, DEMO_PROJECT, demo_links, start_demo_emulator

        emulator = start_demo_emulator()
        runtime = build_runtime(
            profile_name="demo",
            project=DEMO_PROJECT,
            tier="free",
            api_key=DEMO_KEY,
            endpoint=emulator.base_url,
            api_version=api_version,
            config=config,
            headers=headers,
            links=demo_links(emulator, config),
        )
        if resolve_models:
            use_server_models(runtime)
        return Opened(runtime, emulator)

    from gemtui.auth.endpoints import validate_endpoint
    from gemtui.auth.resolve import resolve_profile
    from gemtui.runtime import runtime_for_profile

    profile_name = getattr(args, "profile", None) or os.environ.get("GEMTUI_PROFILE")
    if getattr(args, "api", None) == "openai" and not profile_name:
        from gemtui.commands._openai import openai_runtime

        return Opened(openai_runtime(args, config, endpoint, headers))
    profile = resolve_profile(profile_name, config=config)
    if endpoint:
        validate_endpoint(endpoint)
    runtime = runtime_for_profile(profile, config, endpoint=endpoint, api_version=api_version, headers=headers)
    if getattr(profile, "api", "gemini") == "openai":
        _default_model(args, profile.model)
    elif resolve_models:
        use_server_models(runtime)
    return Opened(runtime)


def _default_model(args: argparse.Namespace, model: str | None) -> None:
    """An OpenAI-compatible profile answers with its own model when none is named (auto means Gemini's)."""
    if model and getattr(args, "model", None) in (None, "", "auto"):
        args.model = model


def use_server_models(runtime: Any) -> None:
    """Point pro/flash/lite at the newest models the endpoint lists (cached a day; config pins win)."""
    from gemtui.chat.model_aliases import resolve_and_use

    resolve_and_use(runtime)
