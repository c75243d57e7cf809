"""Slash commands about what each request sends: /context, /pin, /unpin, /compact, /cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gemtui.errors import one_line
from gemtui.log import get_logger
from gemtui.textin import typed_number
from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

logger = get_logger(__name__)


def context_lines(ctx: SlashContext) -> list[str]:
    """/context: the plan the send path makes (same budget, same calibrated estimator) for the
    preferred model over the stored history; the next prompt is added to it when sent."""
    from gemtui.tui.slash.settings import settings_lines

    settings = ["", "settings (/system, /set):", *(f"  {line}" for line in settings_lines(ctx))]
    session = ctx.session()
    if session is None:
        return ["nothing stored yet: the next request sends the system prompt and your prompt", *settings]
    plan, error = session.next_plan(ctx.preference)
    if plan is None:
        return [f"the next request cannot be sent: {error}", *settings]
    lines = [f"next request to {plan.model} (history so far; your next prompt is added to it)", *plan.report()]
    if plan.marker:
        lines.append(f"in the conversation: {plan.marker}")
    return [*lines, *settings]


async def context(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.context import ContextScreen

    ctx.push_screen(ContextScreen(context_lines(ctx)))


# ---- /pin, /unpin --------------------------------------------------------------------------------


def message_for(ctx: SlashContext, arg: str) -> tuple[int | None, str]:
    """`/pin` → the last message shown; `/pin 3` or `/pin #3` → the message shown as #3."""
    numbers = ctx.numbers
    if not numbers:
        return None, "no message to pin yet"
    if not arg:
        return max(numbers, key=numbers.__getitem__), ""
    number = typed_number(arg)
    if number is None:
        return None, f"/pin takes a message number as shown (#3 → /pin 3), not {arg!r}"
    msg_id = next((i for i, n in numbers.items() if n == number), None)
    return (msg_id, "") if msg_id is not None else (None, f"no message #{number} in this conversation")


async def pin(ctx: SlashContext, arg: str) -> None:
    await _pin(ctx, arg, True)


async def unpin(ctx: SlashContext, arg: str) -> None:
    await _pin(ctx, arg, False)


async def _pin(ctx: SlashContext, arg: str, pinned: bool) -> None:
    from gemtui.chat.sessions import SessionError

    store = ctx.store
    if ctx.conv_id is None or store is None:
        ctx.show_info("nothing to pin yet")
        return
    msg_id, problem = message_for(ctx, arg)
    if msg_id is None:
        ctx.show_info(problem, "warning")
        return
    try:
        store.set_pinned(msg_id, pinned)
    except SessionError as exc:
        ctx.show_info(f"#{ctx.numbers[msg_id]}: {exc}", "warning")
        return
    ctx.show_pin(msg_id, pinned)
    session = ctx.session()
    if session is not None:
        session.reload()
    await ctx.refresh_marker()
    number = ctx.numbers[msg_id]
    ctx.show_info(
        f"#{number} pinned: sent with every request"
        if pinned
        else f"#{number} unpinned: sent only while it is recent enough"
    )


# ---- /compact -------------------------------------------------------------------------------------


async def compact(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.confirm import ConfirmDialog

    session = ctx.session()
    if session is None:
        ctx.show_info("nothing to compact yet")
        return
    if ctx.chat_task.busy:
        ctx.show_info("an answer is being written; /compact when it is done")
        return
    session.reload()
    plan, error = session.next_plan(ctx.preference)
    if plan is None:
        ctx.show_info(f"/compact: {error}", "warning")
        return
    if not plan.left_out:
        ctx.show_info("nothing to compact: every message is still sent")
        return
    job, gauges, why = ctx._admissible_summariser(session, plan)
    if job is None or gauges is None:
        ctx.show_info(f"/compact: no model can take the summary now ({why})", "warning")
        return
    line = job.describe(
        rpm_left=gauges["rpm"].remaining, tpm_left=gauges["tpm"].remaining, rpd_left=gauges["rpd"].remaining
    )

    def answered(ok: bool | None) -> None:
        if ok and ctx.chat_task.start(ctx, ctx._compact(job)) is None:  # a prompt went first meanwhile
            ctx.show_info("an answer is being written; /compact when it is done")

    ctx.push_screen(
        ConfirmDialog(
            "Summarise the messages that are no longer sent?",
            line,
            "The summary is pinned in their place; nothing is deleted.",
        ),
        answered,
    )


# ---- /cache --------------------------------------------------------------------------------------


def cache_lines(use: Any) -> str:
    """One line: on or off, what the file holds, what it served in this run."""
    state = "on" if use.enabled else "off (a kept answer is still offered when every model must wait)"
    cache = use.open(create=False)
    if cache is None:
        return f"response cache {state} · empty"
    stats = cache.stats()
    return (
        f"response cache {state} · {stats.entries} answers, {stats.bytes / 1024:.0f} KiB · "
        f"served {stats.hits} times ({stats.tokens_saved:,} tokens not spent), {use.hits} in this run"
    )


async def cache(ctx: SlashContext, arg: str) -> None:
    """/cache on|off (for this run; `[cache] enabled` in the config file for every run), /cache clear,
    /cache alone: how it stands."""
    use = ctx.gemtui_app.response_cache
    word = arg.strip().lower()
    try:
        if word in ("on", "off"):
            use.enabled = word == "on"
            ctx.show_info(
                "response cache on: an identical question is answered from it, marked cached"
                if use.enabled
                else "response cache off: every question is sent"
            )
        elif word == "clear":
            ctx.show_info(f"response cache cleared ({use.clear()} answers forgotten)")
        elif not word:
            ctx.show_info(cache_lines(use))
        else:
            ctx.show_info(f"/cache takes on, off or clear, not {arg.strip()!r}", "warning")
    except Exception as exc:  # a cache file that cannot be read or written: one line, never a crash
        logger.exception("/cache %s", word)
        ctx.show_info(f"/cache: the response cache cannot be used ({one_line(exc)})", "error")


CONTEXT = SlashCommand("context", "", "what the next request sends, and what it leaves out", context)
PIN = SlashCommand("pin", "[N]", "always send message #N (default: the last one)", pin)
UNPIN = SlashCommand("unpin", "[N]", "stop always sending message #N (default: the last one)", unpin)
COMPACT = SlashCommand("compact", "", "summarise the messages no longer sent (one request; cost shown first)", compact)
CACHE = SlashCommand(
    "cache", "[on|off|clear]", "answer identical questions from the response cache (marked cached)", cache
)
