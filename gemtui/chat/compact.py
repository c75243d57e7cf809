"""The pure part of /compact: what the summary request says, what it costs, and how it is stored.

/compact is opt-in and never automatic: it spends a request and tokens, so the caller shows
`CompactionJob.describe()` against the gauges first, sends `system` + `request_text` to the cheapest
admissible model (the gemini layer's job), then calls `apply_compaction` with the answer.

Nothing is deleted: the summarised messages get status "compacted" (kept, exported, never sent) and
one pinned summary message takes their place in the conversation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gemtui.chat.context import ContextBudget, resolve_model
from gemtui.chat.router import candidates
from gemtui.chat.sender import Request
from gemtui.chat.sessions import Message, SessionError, SessionStore
from gemtui.chat.tokens import MESSAGE_OVERHEAD, TokenEstimator
from gemtui.quota.admission import RequestCost
from gemtui.quota.engine import QuotaEngine
from gemtui.quota.limits import FALLBACK_ORDER
from gemtui.turns import Turn

SUMMARY_SYSTEM = (
    "You condense the earlier part of a conversation so it can continue without it. "
    "Write a faithful, compact summary in the conversation's language."
)

SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation excerpt below so that it can replace it as context for the rest of the "
    "conversation. Keep: facts, decisions, names, numbers, code identifiers, open questions and what the "
    "user asked for. Drop pleasantries and repetition. Use short bullet points; no preamble.\n\n"
    "--- conversation excerpt ({count} messages) ---\n\n"
)

SUMMARY_HEADER = "Summary of {count} earlier messages (made by {model} with /compact):\n\n"


@dataclass(frozen=True)
class CompactionJob:
    """One summary request, ready to show (cost) and to send (system + request_text)."""

    model: str
    system: str
    request_text: str
    covered_ids: list[int]  # the messages the summary will replace, oldest first
    skipped: int  # older left-out messages that did not fit this request (they stay left out)
    input_tokens: int  # calibrated estimate: what the quota engine will reserve
    requests: int = 1

    def describe(self, *, rpm_left: int | None = None, tpm_left: int | None = None, rpd_left: int | None = None) -> str:
        """One line for the confirmation prompt, with the gauges' remaining quota when given."""
        line = (
            f"/compact: {self.requests} request of ~{self.input_tokens:,} input tokens to {self.model}, "
            f"summarising {len(self.covered_ids)} messages"
        )
        if self.skipped:
            line += f" ({self.skipped} older ones do not fit and stay left out)"
        left = []
        if rpm_left is not None:
            left.append(f"{rpm_left:,} requests left this minute")
        if tpm_left is not None:
            left.append(f"{tpm_left:,} tokens left this minute")
        if rpd_left is not None:
            left.append(f"{rpd_left:,} requests left today")
        if left:
            line += "; " + ", ".join(left)
        return line

    def fits(self, *, rpm_left: int | None = None, tpm_left: int | None = None, rpd_left: int | None = None) -> bool:
        """Whether the gauges have room for this job right now (None = not limited)."""
        needs = ((rpm_left, self.requests), (tpm_left, self.input_tokens), (rpd_left, self.requests))
        return all(left is None or left >= need for left, need in needs)


def cheapest_first(models: Iterable[str]) -> list[str]:
    """Candidate models, cheapest first (Lite, Flash, Pro, then unknown ones): the caller picks the
    first one the quota engine admits."""
    order = {model: rank for rank, model in enumerate(reversed(FALLBACK_ORDER))}
    resolved = [resolve_model(m) for m in models]
    return sorted(dict.fromkeys(resolved), key=lambda m: order.get(m, len(order)))


def _transcript_line(msg: Message) -> str:
    who = "User" if msg.role == "user" else "Model"
    if getattr(msg, "kind", "message") == "summary":
        who = "Earlier summary"
    return f"{who}: {msg.text.strip()}\n\n"


def build_summary_request(messages: Sequence[Message]) -> str:
    """The text sent to the summariser: instructions, then the excerpt as `User:`/`Model:` lines."""
    return SUMMARY_INSTRUCTIONS.format(count=len(messages)) + "".join(_transcript_line(m) for m in messages)


def prepare_compaction(
    messages: Sequence[Message],
    left_out_ids: Iterable[int | None],
    model: str,
    estimator: TokenEstimator,
    *,
    budget: ContextBudget | None = None,
    max_input_tokens: int | None = None,
) -> CompactionJob:
    """Build the request for the left-out part (ContextPlan.left_out_ids) and estimate its cost.

    If the left-out part is larger than the summariser's own budget (`budget.limit(model)` or
    `max_input_tokens`), the newest left-out messages that fit are summarised, starting at a user
    message, and the older rest stays left out (reported as `skipped`).
    """
    wanted = {i for i in left_out_ids if i is not None}
    chosen = [m for m in messages if m.id in wanted]
    if not chosen:
        raise SessionError("nothing to compact: every message is already sent")
    name = resolve_model(model)
    limit = max_input_tokens
    if budget is not None:
        budget_tokens = budget.limit(name).tokens
        limit = budget_tokens if limit is None else min(limit, budget_tokens)
    factor = estimator.factor(name)
    fixed_raw = (
        estimator.raw_system(SUMMARY_SYSTEM)
        + estimator.raw_for_text(SUMMARY_INSTRUCTIONS.format(count=len(chosen)))
        + MESSAGE_OVERHEAD
    )
    line_raws = [estimator.raw_for_text(_transcript_line(m)) for m in chosen]
    start = 0
    if limit is not None:
        room = math.floor(limit / factor) - fixed_raw
        total = sum(line_raws)
        while start < len(chosen) and total > room:
            total -= line_raws[start]
            start += 1
        while start < len(chosen) and chosen[start].role != "user":  # begin at a whole turn
            start += 1
        if start >= len(chosen):
            raise SessionError(f"the left-out messages are too large to summarise within {limit:,} tokens for {name}")
    covered = chosen[start:]
    text = build_summary_request(covered)
    raw = estimator.raw_system(SUMMARY_SYSTEM) + estimator.raw_for_text(text) + MESSAGE_OVERHEAD
    return CompactionJob(
        model=name,
        system=SUMMARY_SYSTEM,
        request_text=text,
        covered_ids=[m.id for m in covered if m.id is not None],  # all are: chosen by id
        skipped=start,
        input_tokens=estimator.scale(name, raw),
    )


def summary_request(job: CompactionJob) -> Request:
    """The summary as a one-off request: pinned to the job's model (the cost shown is the cost of that
    model), waiting rather than switching, costed at the job's own estimate."""
    cost = RequestCost(input_tokens=job.input_tokens)
    return Request(
        turns=[Turn("user", job.request_text)],
        system=job.system,
        preference=job.model,
        policy="wait",
        forced_route=job.model,
        cost_for=lambda _model: cost,
    )


def admissible_summariser(
    messages: Sequence[Message],
    left_out_ids: Iterable[int | None],
    engine: QuotaEngine,
    project: str,
    estimator: TokenEstimator,
    budget: ContextBudget | None = None,
) -> tuple[CompactionJob | None, str]:
    """The summary job for the cheapest model the engine admits now (`cheapest_first` over the models
    auto mode may use); else (None, why each model cannot take it)."""
    reasons = []
    left_out = list(left_out_ids)
    for model in cheapest_first(candidates("auto")[1]):
        try:
            job = prepare_compaction(messages, left_out, model, estimator, budget=budget)
        except SessionError as exc:
            reasons.append(f"{model}: {exc}")
            continue
        admission = engine.check(project, job.model, RequestCost(input_tokens=job.input_tokens))
        if admission.granted:
            return job, ""
        reasons.append(f"{model}: {admission.reason}")
    return None, "; ".join(reasons)


def apply_compaction(
    store: SessionStore, conv_id: int, left_out_ids: Iterable[int], summary_text: str, model: str
) -> Message:
    """Replace the summarised messages by one pinned summary, in one transaction.

    The old messages are marked "compacted" (kept for export and undo, never sent again); the summary
    sits where the last of them was, so the conversation still reads in order.
    """
    ids = {i for i in left_out_ids if i is not None}
    if not ids:
        raise SessionError("nothing to compact")
    if not summary_text.strip():
        raise SessionError("the summary is empty; nothing was changed")
    name = resolve_model(model)
    with store.transaction():
        in_order = [m for m in store.messages(conv_id) if m.id in ids and m.status != "compacted"]
        if not in_order:
            raise SessionError("none of those messages are in this session any more")
        header = SUMMARY_HEADER.format(count=len(in_order), model=name)
        summary = store.insert_after(
            in_order[-1].id,
            conv_id,
            "user",
            header + summary_text.strip(),
            model=name,
            pinned=True,
            kind="summary",
        )
        store.set_status([m.id for m in in_order], "compacted")
    return summary


def undo_compaction(store: SessionStore, conv_id: int, summary_id: int) -> int:
    """Bring back the messages a summary replaced and remove the summary; returns how many came back."""
    with store.transaction():
        messages = store.messages(conv_id)
        index = next((i for i, m in enumerate(messages) if m.id == summary_id), None)
        if index is None or messages[index].kind != "summary":
            raise SessionError(f"message {summary_id} is not a /compact summary of this session")
        restore: list[int] = []
        for msg in reversed(messages[:index]):
            if msg.kind == "summary":
                break
            if msg.status == "compacted" and msg.id is not None:  # stored messages have ids
                restore.append(msg.id)
        store.set_status(restore, "complete")
        store.delete_message(summary_id)
    return len(restore)
