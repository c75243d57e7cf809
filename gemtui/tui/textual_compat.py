"""Every use of Textual's (and Rich's) private internals, in one place.

The app needs a few things Textual has no public API for: drawing a widget's lines off screen,
dropping the caches that keep removed children alive, deferring a draw after a layout, and
stopping honestly on an unhandled exception. Each such hook is a function here, and
tests/test_textual_compat.py has a test per hook that fails if Textual moves the internal it
uses; a new Textual release is checked by running that file first. Callers import these
functions and never touch an underscore name of a Textual object themselves.

Imports stay light (no Markdown): this module is loaded with the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.style import Style
from textual.app import App
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

ReturnType = TypeVar("ReturnType")


# ---- drawing ------------------------------------------------------------------------------------


class WidgetAlone:
    """A widget's lines as the screen would draw them, composited for that widget alone.

    Uses Textual's Compositor (a private module) and its `_render_chops`: the screen's own
    compositing, so the lines are identical to what is on screen, without drawing the screen."""

    def __init__(self, widget: Widget, width: int, height: int) -> None:
        from textual._compositor import Compositor
        from textual.geometry import Size

        self._compositor = Compositor()
        self._compositor.reflow(widget, Size(width, height))
        self._width = width

    def rows(self, top: int, count: int) -> list[Strip]:
        """Rows `top` to `top + count` (exclusive) of the widget."""
        from textual.geometry import Region

        band = Region(0, top, self._width, count)
        chops = self._compositor._render_chops(band, lambda _y: True)
        return [Strip.join(chop.values()) for chop in chops[band.y : band.bottom]]

    def close(self) -> None:
        self._compositor.clear()


@contextmanager
def widget_alone(widget: Widget, width: int, height: int) -> Iterator[WidgetAlone]:
    """`WidgetAlone` for one capture; its map of widgets is dropped at the end."""
    alone = WidgetAlone(widget, width, height)
    try:
        yield alone
    finally:
        alone.close()


def visible_widgets(screen: Screen[Any]) -> Any:
    """The widgets the screen drew in its last frame (its compositor's map: private)."""
    return screen._compositor.visible_widgets


def layout_pending(widget: Widget) -> bool:
    """A layout of this widget or of its screen is due (children mounted, sizes not final yet)."""
    return bool(widget._layout_required or widget.screen._layout_required)


def forget_children(widget: Widget) -> None:
    """After `remove_children`: drop Textual's cached arrangement and displayed-children list.

    Both are refreshed only by the next layout of the children, which a childless widget never has:
    they would keep every removed widget alive."""
    widget._arrangement_cache.clear()
    _ = widget._nodes.displayed


def clear_line_cache(area: Any) -> None:
    """Forget a TextArea's drawn lines, so the next frame draws them afresh."""
    area._line_cache.clear()


def selection_offset(style: Style | None) -> tuple[int, int] | None:
    """The (x, y) selection offset Textual put in a segment's style meta, if any.

    Reads Rich's `_meta` first: `Style.meta` unpickles on every read, and most segments have none."""
    if style is None or style._meta is None:
        return None
    return style.meta.get("offset")


def word_breaks(text: str, width: int) -> list[int]:
    """Where Rich wraps `text` at `width` cells (offsets of the rows after the first), words kept
    whole and longer words folded: Rich's own wrapping (a private module)."""
    from rich._wrap import divide_line

    return divide_line(text, width, fold=True)


# ---- layout and draw ----------------------------------------------------------------------------


def layout_then_draw_next_turn(screen: Screen[Any], size: Any = None, scroll: bool = False) -> None:
    """Run Textual's screen layout (`Screen._refresh_layout`) as if inside `batch_update`, so the
    draw that follows waits for the event loop's next turn instead of running in the same breath.

    Called from a screen's override of `_refresh_layout` (Textual calls that on every layout)."""
    app = screen.app
    app._batch_count += 1
    try:
        Screen._refresh_layout(screen, size, scroll)
    finally:
        app._batch_count -= 1


# ---- unhandled exceptions ------------------------------------------------------------------------


class CrashHookApp(App[ReturnType]):
    """An App told of any exception nothing handled (`handle_unhandled_exception`), which then stops
    with `exit_code_on_crash` instead of Textual's traceback over the terminal and status 0.

    Textual's path for such an exception is `App._handle_exception` (private); the app stops as
    Textual would, and `run_test` still re-raises the exception, so a test sees the crash."""

    exit_code_on_crash = 1

    def handle_unhandled_exception(self, error: Exception) -> None:
        """Called once per unhandled exception, before the app stops."""

    def _handle_exception(self, error: Exception) -> None:
        self.handle_unhandled_exception(error)
        self._return_code = self.exit_code_on_crash
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self._close_messages_no_wait()
