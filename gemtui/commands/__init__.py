"""Sub-commands of `gemtui`; each module offers `add_parser(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import importlib
from types import ModuleType

COMMAND_MODULES = ("ask", "quota", "queue", "cache", "auth", "emulator", "doctor", "completion")


def load_command(name: str) -> ModuleType:
    return importlib.import_module(f"gemtui.commands.{name}")
