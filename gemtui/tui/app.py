"""The Textual App: themes, the runtime opened after the first frame, and the chat screen.

First paint never waits for the network side: after the chat screen's first frame a thread worker
opens the runtime (and for --demo the emulator), then warms the SDK client (google.genai, ~0.5 s of
imports) and what the first answer will need (Markdown, the code highlighter); then the heap is
settled once and `settled` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import Binding

from gemtui.tui.commands import slash_provider
from gemtui.tui.themes import DEFAULT_DARK, load_themes


class GemtuiApp(App[int]):
    """`opener()` returns an object with `.runtime` and `.close()` (see commands/_runtime.Opened)."""

    TITLE = "gemtui"
    # The chat screen is the default screen and its stylesheet is read with the app's: a screen pushed
    # in with its own CSS_PATH makes Textual parse every stylesheet again, before the first frame.
    CSS_PATH = "screens/chat/chat.tcss"
    COMMANDS = App.COMMANDS | {slash_provider}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        opener: Callable[[], Any] | None = None,
        *,
        config: Any = None,
        resume: str | None = None,
        model: str | None = None,
        demo: bool = False,
        clock_tick_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.opener = opener
        self.opened: Any = None
        self.config = config
        self.resume = resume
        self.model_preference = model
        self.demo = demo
        self.clock_tick_s = clock_tick_s
        self.runtime: Any = None
        self.runtime_error: str | None = None
        self.runtime_ready = asyncio.Event()
        self.client_ready = asyncio.Event()
        self.settled = asyncio.Event()  # start-up's background work is done (see _settle_start_up)
        self.theme_problems: list[str] = []
        # Before mount: setting a theme later would restyle every widget once more before first paint.
        self._register_themes()

    # ---- themes ----------------------------------------------------------------------------------

    def _register_themes(self) -> None:
        themes, problems = load_themes()
        for theme in themes.values():
            self.register_theme(theme)
        self.theme_problems = [p.message for p in problems]
        wanted = self._config_section("tui").get("theme") or DEFAULT_DARK
        if wanted not in self.available_themes:
            wanted = DEFAULT_DARK if DEFAULT_DARK in self.available_themes else self.theme
        self._start_with_theme(wanted)

    def _start_with_theme(self, name: str) -> None:
        """Set the theme the app starts with, before it runs.

        Setting `theme` runs its watcher, which queues a re-parse of every stylesheet; before the
        first frame that parse is wasted (the first parse already uses this theme's variables) and
        it empties Textual's parse cache, so the next parse does it all again: ~10 ms of start-up.
        The watcher's other work is done here (the theme's classes on the app, its variables in the
        stylesheet), except the ANSI colour filter for a theme whose darkness differs from the
        default's: such a theme takes the watcher's path."""
        current = self.get_theme(self.theme)
        wanted = self.get_theme(name)
        if name == self.theme or wanted is None:
            return
        if current is None or current.dark != wanted.dark:
            self.theme = name
            return
        self.set_reactive(App.theme, name)
        classes = {cls: False for cls in self.classes if cls.startswith("-theme-")}
        classes[f"-theme-{name}"] = True
        self.update_classes(classes, update=False)
        self.stylesheet.set_variables(self.get_css_variables())  # nothing was parsed with the old ones yet

    def _config_section(self, name: str) -> dict[str, Any]:
        return self.config.section(name) if self.config is not None else {}

    def remember_theme(self, name: str) -> None:
        """Switch and write `[tui] theme` so the next start uses it."""
        self.theme = name
        try:
            from gemtui.config import update_config

            update_config(lambda doc: doc.setdefault("tui", {}).__setitem__("theme", name))
        except Exception as exc:  # a read-only config must not break theme switching
            self.notify(f"theme not saved: {exc}", severity="warning")

    # ---- lifecycle -------------------------------------------------------------------------------

    def get_default_screen(self) -> Any:
        from gemtui.tui.screens.chat import ChatScreen

        return ChatScreen()

    def on_mount(self) -> None:
        screen = self.screen
        for problem in self.theme_problems:
            self.notify(f"theme skipped: {problem}", severity="warning")
        # After the chat screen's own first frame, not the app's: the opener thread imports and
        # starts a lot, and would otherwise compete with the first paint for the GIL.
        screen.call_after_refresh(self._open_runtime)

    def _open_runtime(self) -> None:
        self.run_worker(self._open_worker, thread=True, exclusive=True, group="runtime")

    def _open_worker(self) -> None:
        try:
            if self.runtime is None and self.opener is not None:
                self.opened = self.opener()
                self.runtime = self.opened.runtime
        except Exception as exc:  # shown inline; the app stays usable for /help, /theme, /sessions
            from gemtui.errors import one_line

            self.runtime_error = one_line(exc)
        self.call_from_thread(self.runtime_ready.set)
        if self.runtime is not None:
            try:
                _ = self.runtime.client  # imports google.genai off the UI thread
            except Exception as exc:
                from gemtui.errors import one_line

                self.runtime_error = one_line(exc)
        self.call_from_thread(self.client_ready.set)
        self._warm_rendering()
        self.call_from_thread(self._settle_start_up)

    @staticmethod
    def _warm_rendering() -> None:
        """Import what the first answer needs (Markdown, markdown-it, the code highlighter and its
        commonest lexers) here, off the UI thread: imported mid-stream it stalled the app for 40 ms."""
        try:
            from pygments.lexers import get_lexer_by_name
            from textual.widgets import Markdown  # noqa: F401  (markdown-it comes with it)

            for language in ("python", "bash", "json", "text"):
                get_lexer_by_name(language)
        except Exception:  # a missing lexer only costs the import later
            pass

    def _settle_start_up(self) -> None:
        """Take what start-up made out of the garbage collector's full walks (see widgets.heap)."""
        from gemtui.tui.widgets import heap

        heap.settle()
        self.settled.set()

    async def on_unmount(self) -> None:
        if self.opened is not None:
            with contextlib.suppress(Exception):
                self.opened.close()
