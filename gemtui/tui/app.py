"""The Textual App: themes, the runtime opened after the first frame, and the chat screen.

First paint never waits for the network side: after the chat screen's first frame a thread worker
opens the runtime (and for --demo the emulator), then warms the SDK client (google.genai, ~0.5 s of
imports) and what the first answer will need (Markdown, the code highlighter); then the heap is
settled once and `settled` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import Binding

from gemtui.exitcodes import EXIT_ERROR
from gemtui.log import get_logger
from gemtui.tui.literal import DROP_CONTROL
from gemtui.tui.slash import model_provider, slash_provider
from gemtui.tui.textual_compat import CrashHookApp
from gemtui.tui.themes import DEFAULT_DARK, load_themes

logger = get_logger(__name__)


class GemtuiApp(CrashHookApp[int]):
    """`opener()` returns an object with `.runtime` and `.close()` (see commands/_runtime.Opened)."""

    TITLE = "gemtui"
    # The chat screen is the default screen and its stylesheet is read with the app's: a screen pushed
    # in with its own CSS_PATH makes Textual parse every stylesheet again, before the first frame.
    CSS_PATH = "screens/chat/chat.tcss"
    COMMANDS = App.COMMANDS | {slash_provider, model_provider}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]
    exit_code_on_crash = EXIT_ERROR  # an unhandled exception (see handle_unhandled_exception)

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
        self._response_cache: Any = None
        self.theme_problems: list[str] = []
        self.crashed: BaseException | None = None  # the unhandled exception that stopped the app
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

    def get_line_filters(self) -> Any:
        """Textual's filters, then the one that keeps control characters from reaching the terminal."""
        return [*super().get_line_filters(), DROP_CONTROL]

    @property
    def image_previews(self) -> bool:
        """Whether answers' images are drawn in the conversation: on unless `[tui] image_preview = false`,
        where the terminal has 256 colours or more and NO_COLOR is not set (elsewhere the path line and
        /open stand in)."""
        from gemtui.tui.widgets.image_preview import terminal_can_preview

        if self._config_section("tui").get("image_preview", True) is False or self.no_color:
            return False
        return terminal_can_preview(self.console.color_system)

    def _config_section(self, name: str) -> dict[str, Any]:
        return self.config.section(name) if self.config is not None else {}

    def remember_theme(self, name: str) -> None:
        """Switch and write `[tui] theme` so the next start uses it."""
        self.theme = name
        try:
            from gemtui.config import update_config

            update_config(lambda doc: doc.setdefault("tui", {}).__setitem__("theme", name))
        except Exception as exc:  # a read-only config must not break theme switching
            from gemtui.errors import one_line

            logger.exception("could not save the theme")
            self.notify(f"theme not saved: {one_line(exc)}", severity="warning", markup=False)

    # ---- lifecycle -------------------------------------------------------------------------------

    def get_default_screen(self) -> Any:
        from gemtui.tui.screens.chat import ChatScreen

        return ChatScreen()

    def on_mount(self) -> None:
        screen = self.screen
        for problem in self.theme_problems:
            self.notify(f"theme skipped: {problem}", severity="warning", markup=False)
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
            from gemtui.quota.ledger_fallback import LedgerUnreachable

            logger.exception("could not open the runtime")
            self.runtime_error = one_line(exc)
            if isinstance(exc, LedgerUnreachable):  # [ledger] on_unreachable = "stop": exit once started
                self.crashed = exc
        self.call_from_thread(self.runtime_ready.set)
        if self.runtime is not None:
            try:
                _ = self.runtime.client  # imports google.genai off the UI thread
            except Exception as exc:
                from gemtui.errors import one_line

                logger.exception("could not build the API client")
                self.runtime_error = one_line(exc)
        self.call_from_thread(self.client_ready.set)
        if self.runtime is not None and self.runtime_error is None:
            from gemtui.chat.model_aliases import resolve_and_use

            resolve_and_use(self.runtime)  # pro/flash/lite: the server's newest (never raises)
        self._warm_rendering()
        self.call_from_thread(self._settle_start_up)

    def resolve_models(self) -> None:
        """pro/flash/lite follow the current runtime's server (after a profile switch), off the UI thread."""
        runtime = self.runtime
        if runtime is None:
            return

        def resolve() -> None:
            from gemtui.chat.model_aliases import resolve_and_use

            resolve_and_use(runtime)  # never raises: a server without a list keeps the 2.5 models

        self.run_worker(resolve, thread=True, exclusive=True, group="models", exit_on_error=False)

    @staticmethod
    def _warm_rendering() -> None:
        """Import what the first answer needs (AnswerBlock, Markdown, markdown-it, the code highlighter
        and its commonest lexers) here, off the UI thread: imported mid-stream it stalled the app for
        40 ms."""
        try:
            from pygments.lexers import get_lexer_by_name

            import gemtui.tui.widgets.answer_block  # noqa: F401  (Markdown and markdown-it come with it)

            for language in ("python", "bash", "json", "text"):
                get_lexer_by_name(language)
        except Exception:  # a missing lexer only costs the import later
            logger.debug("warming the renderers failed", exc_info=True)

    def _settle_start_up(self) -> None:
        """Take what start-up made out of the garbage collector's full walks (see widgets.heap)."""
        from gemtui.tui.widgets import heap

        heap.settle()
        self.settled.set()
        from gemtui.quota.ledger_fallback import LedgerUnreachable

        if isinstance(self.crashed, LedgerUnreachable):  # commands.tui prints its line, status 11
            from gemtui.exitcodes import EXIT_LEDGER

            self.call_after_refresh(lambda: self.exit(return_code=EXIT_LEDGER))

    @property
    def response_cache(self) -> Any:
        """The response cache as chat uses it (`CacheUse`): off unless `[cache] enabled = true` or /cache on;
        built on first use, its file opened only when it is needed."""
        if self._response_cache is None:
            from gemtui.chat.response_cache import CacheUse
            from gemtui.config import Config

            self._response_cache = CacheUse.from_config(self.config if self.config is not None else Config({}))
        return self._response_cache

    async def on_unmount(self) -> None:
        if self._response_cache is not None:
            self._response_cache.close()
        if self.opened is not None:
            try:
                self.opened.close()
            except Exception:  # the process is ending anyway
                logger.exception("could not close the runtime")

    # ---- leaving: quit, and crash --------------------------------------------------------------

    def chat_screen(self) -> Any:
        """The chat screen (under any dialog), or None before it exists."""
        from gemtui.tui.screens.chat import ChatScreen

        return next((s for s in self.screen_stack if isinstance(s, ChatScreen)), None)

    async def action_quit(self) -> None:
        """Ctrl+Q and /quit: with prompts waiting in the queue, ask whether to keep them for the next
        start or cancel them (Esc stays); a second Ctrl+Q in that dialog keeps them."""
        from gemtui.tui.screens.quit import QuitDialog

        if isinstance(self.screen, QuitDialog):
            self.screen.dismiss("keep")
            return
        chat = self.chat_screen()
        waiting = chat.waiting_items() if chat is not None else []
        if not waiting:
            self.quit_now(keep=True)
            return

        def chosen(choice: str | None) -> None:
            if choice in ("keep", "cancel"):
                self.quit_now(keep=choice == "keep")

        self.push_screen(QuitDialog(len(waiting)), chosen)

    def quit_now(self, *, keep: bool) -> None:
        """Leave the queue and the conversation consistent, then exit (status 0)."""
        chat = self.chat_screen()
        if chat is not None:
            chat.settle_for_exit(keep=keep, reason="stopped: gemtui quit while it was being written")
        self.exit(0)

    def handle_unhandled_exception(self, error: Exception) -> None:
        """An exception nothing handled: Textual would print a Rich traceback over the terminal and
        `run()` would still return None (exit status 0). Here the traceback goes to the log file, the
        queue and the conversation are settled (the prompt in flight back in line, an answer being
        written kept as cut), and the app stops (see CrashHookApp) with `return_code` 1 and `crashed`
        set; `commands.tui` prints the one line."""
        from textual.worker import WorkerFailed

        cause = error.error if isinstance(error, WorkerFailed) else error
        if self.crashed is not None:
            logger.error("another unhandled exception while stopping", exc_info=cause)
            return
        self.crashed = cause
        logger.error("gemtui stopped on an unhandled exception", exc_info=cause)
        chat = self.chat_screen()
        if chat is not None:
            try:
                from gemtui.errors import one_line
                from gemtui.log import known_secrets

                why = one_line(cause, known_secrets())
                chat.settle_for_exit(keep=True, reason=f"stopped: gemtui crashed ({why})")
            except Exception:
                logger.exception("could not settle the queue after the crash")
