"""Slash commands about the conversation itself: /new, /sessions, /retry, /clear, /export, /merge;
and reopening a stored conversation, which /sessions shares with `--resume` and the start-up offer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gemtui.errors import one_line
from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.chat.queue import QueueItem
    from gemtui.tui.slash.context import SlashContext


async def new(ctx: SlashContext, _arg: str) -> None:
    ctx.chat_task.cancel()
    ctx.conv_id = None
    ctx.conv_title = ""
    ctx.update_title()
    await ctx.clear_transcript()
    await ctx.refresh_queue()
    ctx.show_info("new conversation")


async def sessions(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.sessions import SessionsScreen

    async def chosen(conv_id: int | None) -> None:
        if conv_id is not None:
            await resume(ctx, str(conv_id))
        elif ctx.conv_id is not None and ctx.store.get(ctx.conv_id) is None:
            await new(ctx, "")  # the conversation on screen was deleted

    ctx.push_screen(SessionsScreen(ctx.store, ctx.conv_id), chosen)


async def resume(ctx: SlashContext, key: str) -> None:
    """Reopen a stored conversation by id or name (`--resume`, /sessions); "" is the latest."""
    store = ctx.store
    if key:
        conv = store.find(key)
    else:
        listed = store.list(limit=1)
        conv = store.get(listed[0].id) if listed else None
    if conv is None:
        ctx.show_info(f"no stored session {key!r}" if key else "no stored session yet", "warning")
        return
    ctx.chat_task.cancel()
    ctx.conv_id = conv.id
    await ctx.show_conversation()
    ctx.conv_title = conv.title or conv.name or f"#{conv.id}"
    ctx.update_title()
    await ctx.refresh_queue()
    ctx.pump()


async def offer_waiting(ctx: SlashContext) -> None:
    """At start, whatever the flags: prompts an earlier gemtui left waiting (quit with "keep", a
    crash, kill -9) are announced. Those of the conversation on screen (`--resume`) are sent now;
    those of others are offered in a dialog: resume (open that conversation and send), cancel, or
    later. Headless batches' prompts are not the app's to send; a deleted conversation's go."""
    from gemtui.tui.screens.waiting import WaitingDialog, WaitingGroup

    queue, store = ctx.queue, ctx.store
    if queue is None or store is None:
        return
    here = 0
    groups: dict[int, list[QueueItem]] = {}
    for item in queue.items(("queued",)):
        if item.batch_id is not None or item.conversation_id is None or item.owner_pid is not None:
            continue  # a batch's, or another running gemtui's (recover() cleared the owners that are gone)
        if item.conversation_id == ctx.conv_id:
            here += 1
        elif store.get(item.conversation_id) is None:
            queue.cancel(item.id)
        else:
            groups.setdefault(item.conversation_id, []).append(item)
    if here:
        ctx.show_info(f"{here} message{'s' if here != 1 else ''} waiting from last time: sending now")
    if not groups:
        return
    offers = []
    for conv_id, items in groups.items():
        conv = store.get(conv_id)
        title = (conv.title or conv.name or f"#{conv_id}") if conv is not None else f"#{conv_id}"
        offers.append(WaitingGroup(conv_id, title, len(items)))

    async def chosen(choice: str | None) -> None:
        if choice == "resume":
            await resume(ctx, str(offers[0].conv_id))
        elif choice == "cancel":
            for items in groups.values():
                for item in items:
                    queue.cancel(item.id)
            ctx.show_info(f"cancelled {sum(o.count for o in offers)} waiting messages")
        else:
            ctx.show_info("they stay waiting: /sessions opens their conversation and sends them")

    ctx.push_screen(WaitingDialog(offers), chosen)


async def retry(ctx: SlashContext, _arg: str) -> None:
    if ctx.conv_id is None:
        ctx.show_info("nothing to retry yet")
        return
    if ctx.chat_task.busy:
        ctx.show_info("an answer is being written; Esc cancels it first")
        return
    last_user = next(
        (
            m
            for m in reversed(ctx.store.messages(ctx.conv_id, include_compacted=False))
            if m.role == "user" and m.kind != "summary"
        ),
        None,
    )
    if last_user is None:
        ctx.show_info("nothing to retry yet")
        return
    await ctx.enqueue(last_user.text, retry_of=last_user.id)


async def clear(ctx: SlashContext, _arg: str) -> None:
    await ctx.conversation.clear()
    ctx.show_info("screen cleared (the session is still stored; /sessions reopens it)")


async def export(ctx: SlashContext, arg: str) -> None:
    if ctx.conv_id is None:
        ctx.show_info("nothing to export yet")
        return
    from gemtui.storage import write_private

    try:
        target = Path(arg).expanduser() if arg else Path.cwd() / f"gemtui-session-{ctx.conv_id}.md"
    except RuntimeError:  # `~someone` who does not exist here
        ctx.show_info(f"cannot write {arg}: no such user's home folder", "error")
        return
    try:
        text = ctx.store.export_markdown(ctx.conv_id)
        write_private(target, text)  # a conversation is private: 0600, like every file gemtui writes
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        ctx.show_info(f"cannot write {target}: {getattr(exc, 'strerror', None) or one_line(exc)}", "error")
        return
    except Exception as exc:  # a stored row with bad data (see gemtui.tui.quarantine): said, not crashed on
        import logging

        logging.getLogger(__name__).exception("exporting session %s failed", ctx.conv_id)
        ctx.show_info(f"cannot export this session: {one_line(exc)}", "error")
        return
    ctx.show_info(f"exported to {target}")


async def merge(ctx: SlashContext, _arg: str) -> None:
    """Every waiting prompt becomes one request: one request instead of many saves RPM."""
    items = ctx.waiting_here()
    if len(items) < 2:
        ctx.show_info("merge needs two or more queued messages")
        return
    if ctx.active_item is not None and ctx.chat_task.busy and not ctx.routed:
        ctx.stop_sending(requeue=True)  # the head is still waiting: merge it too
    ctx.queue.merge([i.id for i in items])
    ctx.show_info(f"merged {len(items)} messages into one request (saves {len(items) - 1} of RPM)")
    await ctx.refresh_queue()
    ctx.call_later(ctx.pump)


NEW = SlashCommand("new", "", "start a new conversation", new)
SESSIONS = SlashCommand("sessions", "", "browse, resume or delete stored conversations", sessions)
RETRY = SlashCommand("retry", "", "send the last prompt again (after a cut or failed answer)", retry)
CLEAR = SlashCommand("clear", "", "clear the screen (the stored conversation stays)", clear)
EXPORT = SlashCommand("export", "[file]", "write this conversation to a Markdown file", export)
MERGE = SlashCommand("merge", "", "merge the queued messages into one request (saves RPM)", merge)
