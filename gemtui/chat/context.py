"""The context budget: every request of a conversation fits the model's window and the minute.

Per request, input tokens ≤ min(model context window, configured cap, share of the model's TPM), so
one long history can neither be refused for size nor spend the whole minute and starve the next turns.
The budget follows the model a request is routed to: plan once per candidate model.

Trimming rules (`plan_context`):
* the system prompt and pinned messages are always sent, and so is the request (the last user message);
* then the newest whole turns (a user message and the answers after it), as many as fit; the oldest are
  left out first and the sent history is always one unbroken stretch ending at the request;
* a request that cannot fit even alone raises `ContextTooLarge` before anything is sent, unless the
  caller allows truncation.

Planning is incremental: raw counts are cached per message by the estimator, and per conversation a
scan state (turn boundaries, prefix sums of raw tokens) is extended with the new messages only. Raw
counts are model-independent, so switching models or re-calibrating only changes one multiplier.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import json
import math
import operator
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gemtui import paths
from gemtui.chat.sessions import Message
from gemtui.chat.tokens import (
    MESSAGE_OVERHEAD,
    TokenEstimator,
    media_tokens,
    normalise_model,
    raw_attachments,
    raw_text,
)
from gemtui.config import Config
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.limits import resolve_model as _quota_model
from gemtui.storage import write_private

DEFAULT_CAP = 200_000  # Pro prices prompts above 200k higher; a sane default even where TPM is large
DEFAULT_TPM_SHARE = 0.5
UNKNOWN_WINDOW = 32_768  # a model we know nothing about: small, until models.get tells us its limit

# inputTokenLimit by model-id prefix, most specific first; models.get answers override it.
WINDOW_TABLE: tuple[tuple[str, int], ...] = (
    ("gemini-2.5-flash-image", 32_768),
    ("gemini-2.0-flash-preview-image", 32_768),
    ("gemini-2.5-pro", 1_048_576),
    ("gemini-2.5-flash-lite", 1_048_576),
    ("gemini-2.5-flash", 1_048_576),
    ("gemini-2.0-flash", 1_048_576),
    ("gemini-3", 1_048_576),
    ("gemini-flash-lite-latest", 1_048_576),
    ("gemini-flash-latest", 1_048_576),
    ("gemini-pro-latest", 1_048_576),
)

# Statuses never sent as history: a failed turn, a summarised one, an answer not yet begun.
_NEVER_SENT = frozenset({"error", "compacted"})


class ContextTooLarge(Exception):
    """The request cannot be sent within the budget; the message is one line for the user."""

    def __init__(self, message: str, *, needed: int, limit: int, model: str, part: str) -> None:
        super().__init__(message)
        self.needed = needed
        self.limit = limit
        self.model = model
        self.part = part  # "request" (the new message) or "fixed" (system prompt + pinned)


def resolve_model(model: str) -> str:
    """Aliases (`pro`, `flash`, `lite`) and `models/…` names, resolved as the quota engine does."""
    return _quota_model(normalise_model(model))


def tpm_from_engine(engine: QuotaEngine, project: str) -> Callable[[str], int | None]:
    """`tpm_for` reading the quota engine's effective TPM (learned from 429s, lowered by ghost usage)."""

    def tpm_for(model: str) -> int | None:
        return engine.limits(project, model).tpm

    return tpm_for


@dataclass(frozen=True)
class BudgetLimit:
    """The budget for one model and its three parts; `binding` names the smallest."""

    model: str
    window: int
    cap: int | None
    tpm: int | None
    tpm_share: float
    tpm_part: int | None
    tokens: int
    binding: str  # "window" | "cap" | "tpm"

    def describe(self) -> str:
        parts = [f"window {self.window:,}"]
        parts.append(f"cap {self.cap:,}" if self.cap else "no cap")
        if self.tpm_part is not None:
            parts.append(f"{self.tpm_share:.0%} of {self.tpm:,} TPM = {self.tpm_part:,}")
        else:
            parts.append("TPM unknown")
        return f"{self.tokens:,} tokens for {self.model} ({self.binding} binds: {', '.join(parts)})"


@dataclass
class ContextBudget:
    """Settings (`[context]` in config.toml) plus what we know of each model's window and TPM.

    `tpm_for(model)` is wired to the quota engine's effective TPM (which 429s may have lowered);
    `set_model_window` is fed by `models.get` `inputTokenLimit` and cached on disk.
    """

    max_input_tokens: int | None = DEFAULT_CAP
    tpm_share: float = DEFAULT_TPM_SHARE
    truncate_oversized: bool = False
    tpm_for: Callable[[str], int | None] | None = None
    windows_path: Path | None = None
    _windows: dict[str, int] = field(default_factory=dict, repr=False)
    _tpm: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.max_input_tokens is not None and self.max_input_tokens <= 0:
            self.max_input_tokens = None
        if not 0 < self.tpm_share <= 1:
            raise ValueError("tpm_share must be in (0, 1]")
        if self.windows_path is not None:
            self._load_windows()

    @classmethod
    def from_config(
        cls,
        config: Config | None = None,
        *,
        tpm_for: Callable[[str], int | None] | None = None,
        persist: bool = True,
    ) -> ContextBudget:
        """`[context] max_input_tokens` (0 = no cap), `tpm_share` (0–1], `truncate_oversized`."""
        section = config.section("context") if config is not None else {}
        cap: int | None = DEFAULT_CAP
        if "max_input_tokens" in section:
            try:
                cap = int(section["max_input_tokens"]) or None
            except (TypeError, ValueError):
                cap = DEFAULT_CAP
        try:
            share = float(section.get("tpm_share", DEFAULT_TPM_SHARE))
        except (TypeError, ValueError):
            share = DEFAULT_TPM_SHARE
        if not 0 < share <= 1:
            share = DEFAULT_TPM_SHARE
        return cls(
            max_input_tokens=cap,
            tpm_share=share,
            truncate_oversized=bool(section.get("truncate_oversized", False)),
            tpm_for=tpm_for,
            windows_path=paths.cache_dir() / "model-windows.json" if persist else None,
        )

    # ---- what we know of models --------------------------------------------------------------

    def set_model_window(self, model: str, tokens: int) -> None:
        """Record `inputTokenLimit` from models.get (kept across runs when a cache path is set)."""
        if tokens <= 0:
            return
        name = resolve_model(model)
        if self._windows.get(name) == tokens:
            return
        self._windows[name] = int(tokens)
        self._save_windows()

    def knows_window(self, model: str) -> bool:
        """True once the server told us this model's window (models.get), now or in an earlier run."""
        return resolve_model(model) in self._windows

    def set_model_tpm(self, model: str, tpm: int | None) -> None:
        """A TPM known to the caller (overrides `tpm_for`); None forgets it."""
        name = resolve_model(model)
        if tpm is None:
            self._tpm.pop(name, None)
        else:
            self._tpm[name] = int(tpm)

    def window(self, model: str) -> int:
        name = resolve_model(model)
        known = self._windows.get(name)
        if known:
            return known
        for prefix, tokens in WINDOW_TABLE:
            if name.startswith(prefix):
                return tokens
        return UNKNOWN_WINDOW

    def tpm(self, model: str) -> int | None:
        name = resolve_model(model)
        if name in self._tpm:
            return self._tpm[name]
        if self.tpm_for is not None:
            value = self.tpm_for(name)
            return int(value) if value else None
        return None

    def limit(self, model: str) -> BudgetLimit:
        name = resolve_model(model)
        window = self.window(name)
        tpm = self.tpm(name)
        tpm_part = max(1, math.floor(tpm * self.tpm_share)) if tpm else None
        candidates = [("window", window)]
        if self.max_input_tokens:
            candidates.append(("cap", self.max_input_tokens))
        if tpm_part is not None:
            candidates.append(("tpm", tpm_part))
        binding, tokens = min(candidates, key=lambda c: c[1])
        return BudgetLimit(name, window, self.max_input_tokens, tpm, self.tpm_share, tpm_part, tokens, binding)

    def _load_windows(self) -> None:
        if self.windows_path is None:
            return
        try:
            data = json.loads(self.windows_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            for name, tokens in data.items():
                if isinstance(tokens, int) and tokens > 0:
                    self._windows[str(name)] = tokens

    def _save_windows(self) -> None:
        if self.windows_path is None:
            return
        with contextlib.suppress(OSError):
            write_private(self.windows_path, json.dumps(self._windows, indent=1, sort_keys=True))


@dataclass
class ContextPlan:
    """What one request sends for `model`, what it leaves out, and the estimate the engine reserves."""

    model: str
    sent: list[Message]
    left_out: int
    left_out_ids: list[int | None]
    system_tokens: int
    pinned_tokens: int
    turn_tokens: int
    total_tokens: int
    raw_tokens: int
    budget: BudgetLimit
    pinned_count: int = 0
    request: Message | None = None
    truncated: bool = False
    first_sent_id: int | None = None  # the history message the "not sent" marker sits above
    last_real: int | None = None
    last_estimate: int | None = None
    central_tokens: int = 0  # the calibrated estimate without the safety margin

    @property
    def margin_tokens(self) -> int:
        """How much of `total_tokens` is safety margin: when the TPM window's headroom falls inside it,
        an exact countTokens on `sent` (fed back through `observe`) is worth its call."""
        return max(0, self.total_tokens - self.central_tokens)

    @property
    def marker(self) -> str | None:
        """The line shown where history stops being sent, or None when everything is sent."""
        if not self.left_out:
            return None
        noun = "message" if self.left_out == 1 else "messages"
        return f"{self.left_out} earlier {noun} not sent — /context"

    def observe(self, estimator: TokenEstimator, real_prompt_tokens: int) -> None:
        """Reconcile calibration with the server's promptTokenCount for this very request."""
        estimator.observe(self.model, self.raw_tokens, real_prompt_tokens, reserved=self.total_tokens)

    def report(self) -> list[str]:
        """Lines for /context (and `gemtui ask --session --verbose`)."""
        b = self.budget
        lines = [
            f"Budget: {b.describe()}",
            f"  system prompt  {self.system_tokens:>9,}",
            f"  pinned ({self.pinned_count})     {self.pinned_tokens:>9,}",
            f"  sent turns     {self.turn_tokens:>9,}  ({len(self.sent) - self.pinned_count} messages)",
            f"  total          {self.total_tokens:>9,}  of {b.tokens:,} ({self.total_tokens / b.tokens:.0%})",
            f"  left out       {self.left_out:>9,}  messages"
            + (" (use /compact to summarise them)" if self.left_out else ""),
        ]
        if self.truncated:
            lines.append("  the new message was truncated to fit")
        if self.last_real is not None:
            if self.last_estimate is not None:
                lines.append(f"  last request: estimated {self.last_estimate:,}, server counted {self.last_real:,}")
            else:
                lines.append(f"  last request: server counted {self.last_real:,}")
        return lines


# ---- incremental scan state ---------------------------------------------------------------------


def _eligible(msg: Message) -> bool:
    status = getattr(msg, "status", "complete")
    if status in _NEVER_SENT or not msg.text:
        return False
    return not (msg.role == "model" and status == "pending")


# What planning depends on, with defaults for message types that lack a field.
_KEY_FIELDS: tuple[tuple[str, object], ...] = (
    ("id", None),
    ("text", ""),
    ("status", "complete"),
    ("pinned", False),
    ("role", "user"),
)


def _column(msgs: Sequence[Message], name: str, default: object) -> list[object]:
    """One field of every message. attrgetter runs in C and allocates no tuples, so checking 4,000
    reloaded messages costs well under a millisecond and wakes no garbage collection."""
    try:
        return list(map(operator.attrgetter(name), msgs))
    except AttributeError:
        return [getattr(m, name, default) for m in msgs]


class _History:
    """Turn boundaries and prefix sums over a conversation's history, extended one message at a time.

    Turns are numbered oldest first; `cum[u]` is the raw tokens of the unpinned messages of turns
    0..u-1, so the cost of sending turns j.. is `cum[-1] - cum[j]` and the cut is one bisect.
    """

    __slots__ = (
        "msgs",
        "columns",
        "seq",
        "pinned_seq_pos",
        "pinned_raw",
        "free_ids",
        "unit_seq_pos",
        "unit_free_pos",
        "cum",
        "last_real",
    )

    def __init__(self) -> None:
        self.msgs: list[Message] = []  # every history message seen, eligible or not (validation)
        self.columns: list[list[object]] = [[] for _ in _KEY_FIELDS]  # their key fields, for reloaded lists
        self.seq: list[Message] = []  # eligible messages in order
        self.pinned_seq_pos: list[int] = []  # positions in `seq` of pinned messages
        self.pinned_raw = 0
        self.free_ids: list[int | None] = []  # ids of eligible unpinned messages, in order
        self.unit_seq_pos: list[int] = []  # per turn: where it starts in `seq`
        self.unit_free_pos: list[int] = []  # per turn: where it starts in `free_ids`
        self.cum: list[int] = [0]
        self.last_real: tuple[str | None, int] | None = None  # (model, input_tokens) of the newest answer

    def push(self, msg: Message, estimator: TokenEstimator) -> None:
        self.msgs.append(msg)
        for column, (name, default) in zip(self.columns, _KEY_FIELDS, strict=True):
            column.append(getattr(msg, name, default))
        if msg.role == "model" and msg.input_tokens:
            self.last_real = (msg.model, msg.input_tokens)
        if not _eligible(msg):
            return
        if msg.role == "user" or not self.unit_seq_pos:
            self.unit_seq_pos.append(len(self.seq))
            self.unit_free_pos.append(len(self.free_ids))
            self.cum.append(self.cum[-1])
        raw = estimator.raw_message(msg)
        if getattr(msg, "pinned", False):
            self.pinned_seq_pos.append(len(self.seq))
            self.pinned_raw += raw
        else:
            self.free_ids.append(msg.id)
            self.cum[-1] += raw
        self.seq.append(msg)

    def matches_prefix(self, history: Sequence[Message]) -> bool:
        """True when `history` starts with the messages already scanned (unchanged)."""
        n = len(self.msgs)
        if len(history) < n:
            return False
        head = history[:n]
        if all(map(operator.is_, head, self.msgs)):
            return True
        # Same content in new objects (reloaded from the store): compare what planning depends on,
        # then remember the new objects so the next call takes the identity path again.
        for column, (name, default) in zip(self.columns, _KEY_FIELDS, strict=True):
            if _column(head, name, default) != column:
                return False
        self.msgs = list(head)
        return True


_STATES: weakref.WeakKeyDictionary[TokenEstimator, OrderedDict[int | None, _History]] = weakref.WeakKeyDictionary()
_MAX_STATES = 8


def _history_state(estimator: TokenEstimator, history: Sequence[Message]) -> _History:
    states = _STATES.get(estimator)
    if states is None:
        states = _STATES[estimator] = OrderedDict()
    key = getattr(history[0], "conv_id", None) if history else None
    state = states.get(key)
    if state is None or not state.matches_prefix(history):
        state = _History()
    states[key] = state
    states.move_to_end(key)
    while len(states) > _MAX_STATES:
        states.popitem(last=False)
    for msg in history[len(state.msgs) :]:
        state.push(msg, estimator)
    return state


# ---- planning -----------------------------------------------------------------------------------


def _max_raw(tokens: int, factor: float) -> int:
    """Largest raw count whose scaled estimate, ceil(raw * factor), stays within `tokens`."""
    if tokens <= 0:
        return 0
    raw = math.floor(tokens / factor)
    while raw > 0 and math.ceil(raw * factor) > tokens:
        raw -= 1
    return raw


def _truncate(request: Message, raw_allowed: int) -> Message | None:
    """The request cut (at a line or word when possible) so its raw count fits, with a visible notice."""
    text = request.text
    notice = "\n\n[… truncated by gemtui to fit the context budget: {n:,} characters left out]"
    target = (
        raw_allowed - MESSAGE_OVERHEAD - raw_attachments(request.attachments) - raw_text(notice.format(n=len(text)))
    )
    if target <= 0:
        return None
    full = raw_text(text)
    keep = int(len(text) * target / max(full, 1))
    while keep > 0:
        cut = text[:keep]
        for sep in ("\n", " "):
            at = cut.rfind(sep)
            if at > keep * 0.9:
                cut = cut[:at]
                break
        if raw_text(cut) <= target:
            new_text = cut + notice.format(n=len(text) - len(cut))
            return dataclasses.replace(request, text=new_text)
        keep = int(keep * 0.95)
    return None


def plan_context(
    messages: Sequence[Message],
    system: str | None,
    model: str,
    budget: ContextBudget,
    estimator: TokenEstimator,
    *,
    allow_truncate: bool = False,
) -> ContextPlan:
    """Decide what the next request for `model` sends. `messages` is the conversation in order,
    ending with the request (the last user message); messages are treated as immutable.

    Raises ContextTooLarge when the system prompt and pins, or the request itself, cannot fit.
    """
    name = resolve_model(model)
    limit = budget.limit(name)
    request = None
    history: Sequence[Message] = messages
    if messages and messages[-1].role == "user" and _eligible(messages[-1]):
        request = messages[-1]
        history = messages[:-1]
    state = _history_state(estimator, history)

    factor = estimator.factor(name)
    system_raw = estimator.raw_system(system)
    system_tokens = math.ceil(system_raw * factor)
    pinned_tokens = math.ceil(state.pinned_raw * factor)
    fixed = system_tokens + pinned_tokens
    _check_fixed_part(fixed, limit, name, len(state.pinned_seq_pos), bool(system_raw))
    room = _max_raw(limit.tokens - fixed, factor)  # raw tokens left for the request + history
    request, request_raw, truncated = _fit_request(request, estimator, room, fixed, factor, limit, name, allow_truncate)
    window = _history_window(state, room - request_raw, request)
    turn_raw = request_raw + state.cum[-1] - state.cum[window.first_unit]
    media = sum(media_tokens(m.attachments) for m in [*window.tail, *([request] if request is not None else [])])
    turn_tokens = math.ceil(turn_raw * factor)
    if media:  # images and PDFs cost what the API documents, whatever text taught the calibration
        turn_tokens = max(turn_tokens, math.ceil((turn_raw - media) * factor) + media)

    last_estimate, last_real = estimator.last_observation(name)
    if last_real is None and state.last_real is not None:
        last_real = state.last_real[1]
    return ContextPlan(
        model=name,
        sent=window.sent,
        left_out=len(window.left_out_ids),
        left_out_ids=window.left_out_ids,
        system_tokens=system_tokens,
        pinned_tokens=pinned_tokens,
        turn_tokens=turn_tokens,
        total_tokens=system_tokens + pinned_tokens + turn_tokens,
        raw_tokens=system_raw + state.pinned_raw + turn_raw,
        budget=limit,
        pinned_count=len(state.pinned_seq_pos),
        request=request,
        truncated=truncated,
        first_sent_id=window.first_sent_id if window.left_out_ids else None,
        last_real=last_real,
        last_estimate=last_estimate,
        central_tokens=math.ceil((system_raw + state.pinned_raw + turn_raw) * estimator.ratio(name)),
    )


def _check_fixed_part(fixed: int, limit: BudgetLimit, name: str, pinned_count: int, has_system: bool) -> None:
    """The system prompt and the pins are always sent: over the budget, nothing can go."""
    if fixed <= limit.tokens:
        return
    pins = f"{pinned_count} pinned message{'s' if pinned_count != 1 else ''}"
    if not pinned_count:
        what = "the system prompt takes"
    elif has_system:
        what = f"the system prompt and {pins} take"
    else:
        what = f"{pins} {'take' if pinned_count != 1 else 'takes'}"
    raise ContextTooLarge(
        f"{what} ~{fixed:,} tokens, over the {limit.tokens:,}-token budget for {name} "
        f"({limit.binding} binds); unpin messages or shorten the system prompt",
        needed=fixed,
        limit=limit.tokens,
        model=name,
        part="fixed",
    )


def _fit_request(
    request: Message | None,
    estimator: TokenEstimator,
    room: int,
    fixed: int,
    factor: float,
    limit: BudgetLimit,
    name: str,
    allow_truncate: bool,
) -> tuple[Message | None, int, bool]:
    """The request as it will be sent, its raw size, and whether it was cut to fit (only when allowed)."""
    request_raw = estimator.raw_message(request) if request is not None else 0
    if request_raw <= room or request is None:
        return request, request_raw, False
    needed = fixed + math.ceil(request_raw * factor)
    cut = _truncate(request, room) if allow_truncate else None
    if cut is None:
        raise ContextTooLarge(
            f"this message is ~{math.ceil(request_raw * factor):,} tokens; with the system prompt "
            "and pins "
            f"the request would need ~{needed:,}, over the {limit.tokens:,}-token budget for {name} "
            f"({limit.binding} binds); shorten it or allow truncation",
            needed=needed,
            limit=limit.tokens,
            model=name,
            part="request",
        )
    return cut, raw_text(cut.text) + MESSAGE_OVERHEAD + raw_attachments(cut.attachments), True


@dataclass(frozen=True)
class _Window:
    """The newest whole pairs of history that fit, after the pins that come before them."""

    first_unit: int
    sent: list[Message]
    tail: list[Message]
    left_out_ids: list[int | None]
    first_sent_id: int | None


def _history_window(state: _History, history_room: int, request: Message | None) -> _Window:
    cum = state.cum
    first_unit = bisect.bisect_left(cum, cum[-1] - history_room)
    if first_unit < len(state.unit_seq_pos):
        seq_start = state.unit_seq_pos[first_unit]
        free_start = state.unit_free_pos[first_unit]
    else:
        seq_start, free_start = len(state.seq), len(state.free_ids)
    pins_before = bisect.bisect_left(state.pinned_seq_pos, seq_start)
    sent = [state.seq[i] for i in state.pinned_seq_pos[:pins_before]]
    tail = state.seq[seq_start:]
    sent.extend(tail)
    first_sent_id = next((m.id for m in tail if not getattr(m, "pinned", False)), None)
    if request is not None:
        sent.append(request)
        if first_sent_id is None:
            first_sent_id = request.id
    return _Window(first_unit, sent, list(tail), state.free_ids[:free_start], first_sent_id)
