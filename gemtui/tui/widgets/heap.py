"""Keeping Python's full garbage collections short while a conversation grows.

Even with finished blocks captured as lines (see answer_block.AnswerBlock), a long answer leaves
~200k live objects (the app itself, the captured lines, Textual's caches), and CPython's
oldest-generation collection walks every one: without help each one paused the app for 0.1–0.2 s,
dozens of times while a 20k-token answer streamed, which froze the composer mid-typing. So at safe
points what is alive is moved out of the collector's walk (`gc.freeze`); a full collection then
only walks what was made since.

`gc.freeze` moves *every* live object, not only ours, and a frozen object that later becomes cyclic
garbage is not collected until it is unfrozen. Hence:
- `settle` first collects everything unfrozen (cheap: only what was made since the last settle), so
  no garbage is ever frozen;
- it is called only between two blocks of a streamed answer, after the finished one was captured and
  before the next one exists, when no Markdown widget is alive that could die frozen; what can still
  die frozen is small (the on-screen widgets' render caches of that moment, ~1k objects per block);
- `release` (a conversation dropped: /new, /clear, /sessions) unfreezes, collects once, and settles.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what is not frozen yet (the objects made since the last settle), then freeze the rest."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """After many long-lived objects were dropped: let the collector see them again, collect, settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
