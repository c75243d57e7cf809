"""/open: an image an answer carried, shown by the desktop's own viewer.

The terminal cannot be relied on to draw pixels, so the transcript shows each saved image's path and size
and this command hands the file to `xdg-open` (or `open` on macOS) — a program and its argument, never a
shell line, so no file name can become a command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from gemtui.log import get_logger
from gemtui.textin import typed_number
from gemtui.tui.slash.registry import SlashCommand

if TYPE_CHECKING:
    from gemtui.chat.images_out import SavedImage
    from gemtui.tui.slash.context import SlashContext

logger = get_logger(__name__)


def opener() -> str | None:
    """The program that opens a file with the user's viewer, if this system has one."""
    return shutil.which("open" if sys.platform == "darwin" else "xdg-open")


def open_with_viewer(path: str) -> str | None:
    """Start the viewer on `path` (detached; its output goes nowhere). None when started, else why not."""
    program = opener()
    if program is None:
        return "no program to open files with (xdg-open)"
    try:
        subprocess.Popen(
            [program, path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        logger.exception("could not start %s", program)
        return f"{program} could not start ({exc.strerror or exc})"
    return None


def conversation_images(ctx: SlashContext) -> list[tuple[int, SavedImage]]:
    """(message number, image) for every image saved from this conversation's answers, oldest first."""
    store, conv_id = ctx.store, ctx.conv_id
    if store is None or conv_id is None:
        return []
    numbers = ctx.numbers
    return [(numbers.get(m.id, 0), image) for m in store.messages(conv_id) for image in m.images]


async def open_image(ctx: SlashContext, arg: str) -> None:
    """`/open` the newest image; `/open N` the (last) image of answer #N."""
    images = conversation_images(ctx)
    if arg.strip():
        wanted = typed_number(arg)
        if wanted is None:
            ctx.show_info("/open takes a message number, e.g. /open 4", "warning")
            return
        images = [(n, image) for n, image in images if n == wanted]
    if not images:
        ctx.show_info(
            "no saved image " + (f"in message #{arg.strip().lstrip('#')}" if arg.strip() else "in this conversation"),
            "warning",
        )
        return
    _number, image = images[-1]
    why_not = open_with_viewer(image.path)
    if why_not:
        ctx.show_info(f"{why_not}; the image is at {image.path}", "warning")
    else:
        ctx.show_info(f"opened {image.path}")


OPEN = SlashCommand(
    "open", "[N]", "open the newest image an answer carried (or answer #N's) in your viewer", open_image
)
