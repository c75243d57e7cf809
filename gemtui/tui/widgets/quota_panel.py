"""The side panel of gauges: every dimension of the active model, one compact line per fallback."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from gemtui.tui.widgets.gauges import GaugeLine, compact_line, gauge_line

DIMS = ("rpm", "tpm", "rpd", "ipm")


class QuotaPanel(Vertical):
    """Renders `engine.gauges(...)` output; the screen calls `show()` at ~1 Hz and after each event."""

    DEFAULT_CSS = """
    QuotaPanel { height: auto; padding: 0 1; }
    QuotaPanel .title { text-style: bold; color: $primary; }
    QuotaPanel .subtitle { color: $text-muted; margin-top: 1; }
    QuotaPanel .fallback-name { color: $text-muted; }
    QuotaPanel #fallbacks { height: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fallbacks: tuple[str, ...] = ()
        self.levels: dict[tuple[str, str], str] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="quota-title", classes="title")
        for dim in DIMS:
            yield GaugeLine(id=f"gauge-{dim}")
        yield Static("fallbacks", classes="subtitle", id="fallback-title")
        yield Vertical(id="fallbacks")

    def show(self, active: str, fallbacks: tuple[str, ...], gauges: dict[str, dict[str, Any]],
             now: float) -> None:
        title = self.query_one("#quota-title", Static)
        if str(title.content) != active:
            title.update(active)
        mine = gauges.get(active, {})
        for dim in DIMS:
            text, lvl = gauge_line(dim, mine.get(dim), now)
            self.query_one(f"#gauge-{dim}", GaugeLine).show(text, lvl)
            self.levels[(active, dim)] = lvl
        box = self.query_one("#fallbacks", Vertical)
        if fallbacks != self._fallbacks:
            self._fallbacks = fallbacks
            box.remove_children()
            box.mount_all(
                [w for m in fallbacks for w in (Static(m, classes="fallback-name"), GaugeLine(name=m))]
            )
            self.query_one("#fallback-title").display = bool(fallbacks)
            self.call_after_refresh(self.show, active, fallbacks, gauges, now)
            return
        for line in box.query(GaugeLine):
            text, lvl = compact_line(line.name or "", gauges.get(line.name or "", {}), now)
            line.show(text, lvl)

    def repaint(self) -> None:
        for line in self.query(GaugeLine):
            line.repaint()
