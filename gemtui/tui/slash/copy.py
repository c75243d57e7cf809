"""/copy: an answer, a message or a code block onto the clipboard, through Textual's clipboard support
(OSC 52, which most terminals honour, over SSH too). The stored text is copied, never what the screen
rendered of it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gemtui.textin import typed_number
from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.chat.sessions import Message
    from gemtui.tui.slash.context import SlashContext

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of Markdown `text`, in order, without their fences (an unclosed fence
    runs to the end, as a Markdown renderer shows it)."""
    blocks: list[str] = []
    fence: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        found = _FENCE.match(line)
        if fence is None:
            if found:
                fence, lines = found.group(1), []
            continue
        if (
            found
            and found.group(1)[0] == fence[0]
            and len(found.group(1)) >= len(fence)
            and not line.strip()[len(found.group(1)) :].strip()
        ):
            blocks.append("\n".join(lines))
            fence = None
            continue
        lines.append(line)
    if fence is not None:
        blocks.append("\n".join(lines))
    return blocks


def _stored(ctx: SlashContext) -> list[Message]:
    if ctx.store is None or ctx.conv_id is None:
        return []
    return ctx.store.messages(ctx.conv_id)


def _last_answer(ctx: SlashContext) -> Message | None:
    return next((m for m in reversed(_stored(ctx)) if m.role == "model" and m.text), None)


def _label(ctx: SlashContext, message: Message) -> str:
    number = ctx.numbers.get(message.id) if message.id is not None else None
    what = "answer" if message.role == "model" else "message"
    return f"{what} #{number}" if number is not None else what


def _copy(ctx: SlashContext, text: str, what: str) -> None:
    ctx.gemtui_app.copy_to_clipboard(text)
    ctx.show_info(f"copied {what} ({len(text):,} characters)")


async def copy(ctx: SlashContext, arg: str) -> None:
    """`/copy` the last answer, `/copy N` message #N, `/copy code [K]` the K-th code block of the last
    answer (default: its last)."""
    words = arg.split()
    if words and words[0].lower() == "code":
        await _copy_code(ctx, words[1:])
        return
    if not words:
        answer = _last_answer(ctx)
        if answer is None:
            ctx.show_info("nothing to copy yet: no answer in this conversation")
            return
        _copy(ctx, answer.text, _label(ctx, answer))
        return
    number = typed_number(words[0])
    if len(words) > 1 or number is None:
        ctx.show_info(f"/copy takes nothing, a message number (#3 → /copy 3) or code [K], not {arg!r}", "warning")
        return
    msg_id = next((i for i, n in ctx.numbers.items() if n == number), None)
    message = next((m for m in _stored(ctx) if m.id == msg_id), None) if msg_id is not None else None
    if message is None:
        ctx.show_info(f"nothing to copy: no message #{number} in this conversation")
        return
    if not message.text:
        ctx.show_info(f"nothing to copy: message #{number} is empty")
        return
    _copy(ctx, message.text, _label(ctx, message))


async def _copy_code(ctx: SlashContext, rest: list[str]) -> None:
    answer = _last_answer(ctx)
    if answer is None:
        ctx.show_info("nothing to copy yet: no answer in this conversation")
        return
    blocks = code_blocks(answer.text)
    where = _label(ctx, answer)
    if not blocks:
        ctx.show_info(f"nothing to copy: {where} has no code block")
        return
    index = typed_number(rest[0]) if rest else len(blocks)
    if len(rest) > 1 or index is None:
        ctx.show_info(f"/copy code takes a block number from 1 to {len(blocks)}, not {' '.join(rest)!r}", "warning")
        return
    if not 1 <= index <= len(blocks):
        ctx.show_info(
            f"nothing to copy: {where} has {len(blocks)} code block{'s' if len(blocks) != 1 else ''} "
            f"(/copy code 1 to {len(blocks)})"
        )
        return
    _copy(ctx, blocks[index - 1], f"code block {index} of {len(blocks)} from {where}")


COPY = SlashCommand(
    "copy",
    "[N|code [K]]",
    "copy the last answer, message #N, or code block K of the last answer to the clipboard",
    copy,
)
