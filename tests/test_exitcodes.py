"""The CLI's exit statuses: every failure kind a provider reports ends a command with its documented status."""

from __future__ import annotations

from typing import get_args

from gemtui import exitcodes
from gemtui.gemini.errors import FailureKind


def test_every_failure_kind_has_its_own_status():
    kinds = get_args(FailureKind)
    statuses = {kind: exitcodes.for_failure(kind) for kind in kinds}
    assert statuses["unknown"] == exitcodes.EXIT_ERROR
    assert all(status != exitcodes.EXIT_ERROR for kind, status in statuses.items() if kind != "unknown")
    assert statuses["rate_limited"] == statuses["capacity"] == exitcodes.EXIT_QUOTA
    assert statuses["auth"] == exitcodes.EXIT_AUTH and statuses["not_gemini"] == exitcodes.EXIT_UNREACHABLE


def test_a_kind_the_table_does_not_know_is_an_unexpected_error():
    assert exitcodes.for_failure("something new") == exitcodes.EXIT_ERROR
    assert exitcodes.for_failure(None) == exitcodes.EXIT_ERROR
