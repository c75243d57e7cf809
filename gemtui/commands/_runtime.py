"""Shared by the sub-commands: options every command takes, and turning them into a Runtime."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from gemtui.config import Config, load_config


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """--profile/--demo/--model/--endpoint/--api-version, also accepted after the sub-command."""
    sup = argparse.SUPPRESS
    parser.add_argument("--profile", default=sup, help="send as this profile (see `gemtui auth list`)")
    parser.add_argument("--demo", action="store_true", default=sup, help="use the bundled emulator (no key)")
    parser.add_argument("--model", default=sup, help="auto (default), pro, flash, lite or a full model id")
    parser.add_argument("--endpoint", default=sup, metavar="URL", help="relay base URL instead of the official API")
    parser.add_argument("--api-version", default=sup, help="API version path, e.g. v1beta")


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


def open_runtime(args: argparse.Namespace, config: Config | None = None) -> Opened:
    """Build the Runtime the arguments ask for; starts the in-process emulator for --demo."""
    from gemtui.chat.runtime import build_runtime

    config = config or load_config()
    endpoint = getattr(args, "endpoint", None)
    api_version = getattr(args, "api_version", None)
    if getattr(args, "demo", False):
        from gemtui.commands._demo import DEMO_KEY, DEMO_PROJECT, start_demo_emulator

        emulator = start_demo_emulator()
        runtime = build_runtime(
            profile_name="demo",
            project=DEMO_PROJECT,
            tier="free",
            api_key=DEMO_KEY,
            endpoint=emulator.base_url,
            api_version=api_version,
            config=config,
        )
        return Opened(runtime, emulator)

    from gemtui.auth.endpoints import validate_endpoint
    from gemtui.auth.resolve import resolve_profile
    from gemtui.chat.runtime import runtime_for_profile

    profile = resolve_profile(getattr(args, "profile", None) or os.environ.get("GEMTUI_PROFILE"), config=config)
    if endpoint:
        validate_endpoint(endpoint)
    runtime = runtime_for_profile(profile, config, endpoint=endpoint, api_version=api_version)
    return Opened(runtime)
