"""The side panel of gauges: every dimension of the active model with a bar; every dimension of each
fallback too, without bars, two to a line, each with its reset. A model whose circuit breaker is not
closed gets one more line saying so, under its name."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from gemtui.tui.widgets.gauges import DIMENSIONS as DIMS
from gemtui.tui.widgets.gauges import GaugeCells, GaugeLine, circuit_line, fallback_lines, gauge_line, level


class QuotaPanel(Vertical):
    """Renders `engine.gauges(...)` output; the screen calls `show()` at ~1 Hz and after each event."""

    DEFAULT_CSS = """
    QuotaPanel { height: auto; padding: 0 0 0 1; }
    QuotaPanel .title { text-style: bold; color: $primary; }
    QuotaPanel .subtitle { color: $text-muted; margin-top: 1; }
    QuotaPanel .fallback-name { color: $text-muted; }
    QuotaPanel #fallbacks { height: auto; }
    QuotaPanel GaugeLine { height: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fallbacks: tuple[str, ...] = ()
        self.levels: dict[tuple[str, str], str] = {}

    def compose(self) -> ComposeResult:
        banner = GaugeLine(id="ledger-banner")
        banner.display = False  # shown only while the team ledger is unreachable and counting is local
        yield banner
        yield Static("", id="quota-title", classes="title", markup=False)
        circuit = GaugeLine(id="circuit-active")
        circuit.display = False  # shown only while the active model's circuit is not closed
        yield circuit
        for dim in DIMS:
            yield GaugeLine(id=f"gauge-{dim}")
        yield Static("fallbacks", classes="subtitle", id="fallback-title")
        yield Vertical(id="fallbacks")

    def show(
        self,
        active: str,
        fallbacks: tuple[str, ...],
        gauges: dict[str, dict[str, Any]],
        now: float,
        circuits: dict[str, Any] | None = None,
        banner: str | None = None,
    ) -> None:
        """`circuits`: `engine.circuits(...)` for the same models (None: show no circuit lines);
        `banner`: the ledger's outage line ("team ledger unreachable — counting locally"), if any."""
        circuits = circuits or {}
        ledger_banner = self.query_one("#ledger-banner", GaugeLine)
        ledger_banner.display = bool(banner)
        if banner:
            ledger_banner.show(banner, "blocked")
        title = self.query_one("#quota-title", Static)
        if str(title.content) != active:
            title.update(active)
        circuit = self.query_one("#circuit-active", GaugeLine)
        shown = circuit_line(circuits.get(active), now)
        circuit.display = shown is not None
        if shown is not None:
            circuit.show(*shown)
        mine = gauges.get(active, {})
        for dim in DIMS:
            text, lvl = gauge_line(dim, mine.get(dim), now)
            self.query_one(f"#gauge-{dim}", GaugeLine).show(text, lvl)
            self.levels[(active, dim)] = lvl
        box = self.query_one("#fallbacks", Vertical)
        if fallbacks != self._fallbacks:
            # Cells are filled before they are mounted: one pass, nothing drawn half-empty in between.
            self._fallbacks = fallbacks
            box.remove_children()
            widgets: list[Static] = []
            for model in fallbacks:
                cells = GaugeCells(name=model)
                self._fill(cells, gauges, circuits, now)
                widgets += [Static(model, classes="fallback-name", markup=False), cells]
            box.mount_all(widgets)
            self.query_one("#fallback-title").display = bool(fallbacks)
            return
        for cells in box.query(GaugeCells):
            self._fill(cells, gauges, circuits, now)

    def _fill(self, cells: GaugeCells, gauges: dict[str, dict[str, Any]], circuits: dict[str, Any], now: float) -> None:
        """A fallback model's cells: its circuit line when not closed, then every dimension."""
        model = cells.name or ""
        lines = fallback_lines(gauges.get(model, {}), now)
        shown = circuit_line(circuits.get(model), now)
        cells.show([[shown], *lines] if shown is not None else lines)
        for dim in DIMS:
            self.levels[(model, dim)] = level(gauges.get(model, {}).get(dim), now)

    def repaint(self) -> None:
        for line in self.query(GaugeLine):
            line.repaint()
        for cells in self.query(GaugeCells):
            cells.repaint()
