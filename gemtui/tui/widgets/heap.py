"""Keeping Python's full garbage collections short while a conversation grows.

A long answer leaves hundreds of thousands of live objects (widgets, styles, render caches), and
CPython's oldest-generation collection walks all of them: with a 20k-token answer on screen each one
paused the app for 0.1–0.5 s, more the longer the conversation, which froze the composer mid-typing.
Those objects live as long as the conversation, so once they settle they are moved out of the
collector's walk (`gc.freeze`); a full collection then only walks what was made since. When a
conversation is dropped (/new, /clear, /sessions) they are handed back and collected once.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect the young generations (cheap, catches short-lived cycles), then freeze the survivors."""
    gc.collect(1)
    gc.freeze()


def release() -> None:
    """After many long-lived objects were dropped: let the collector see them again, collect, settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
