"""/quota: every model, every dimension, where each limit came from, and today's usage as a sparkline."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from gemtui.timefmt import duration, local_time
from gemtui.tui.widgets.gauges import LABELS, compact, level


class QuotaScreen(Screen[None]):
    CSS_PATH = "quota.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, runtime: Any, store: Any = None,
                 samples: dict[str, list[float]] | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.samples = samples or {}

    def _models(self) -> list[str]:
        from gemtui.quota.limits import FALLBACK_ORDER

        table = getattr(self.runtime.engine, "table", None)
        known = list(table.models()) if table is not None else []
        return list(dict.fromkeys([*FALLBACK_ORDER, *known]))

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="quota-body"):
            rt = self.runtime
            yield Static(f"profile {rt.profile_name} · project {rt.project} · tier "
                         f"{getattr(rt.engine, 'tier', rt.tier)}", classes="title")
            yield DataTable(id="quota-table", zebra_stripes=True, cursor_type="row")
            yield Static("requests today per model (RPD used)", classes="title")
            for model in self._models():
                yield Static(model, classes="hint")
                yield Sparkline([0], id=f"spark-{model.replace('.', '_')}")
            yield Static("sources: table = published limits · config = your config.toml · "
                         "learned = a 429 said so · default = unknown model, strictest row", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("model", "dim", "used/limit", "remaining", "resets", "blocked until", "source",
                          "state")
        self.refresh_table()
        self.set_interval(1.0, self.refresh_table)

    def refresh_table(self) -> None:
        rt = self.runtime
        now = rt.engine.clock.now()
        gauges = rt.engine.gauges(rt.project, self._models())
        table = self.query_one(DataTable)
        table.clear()
        for model, dims in gauges.items():
            for dim, g in dims.items():
                lvl = level(g, now)
                limit = "n/a" if not g.limit else compact(g.limit)
                resets = ""
                if g.resets_at and g.used:
                    resets = f"{local_time(g.resets_at)} ({duration(g.resets_at - now)})"
                blocked = local_time(g.blocked_until) if g.blocked_until and g.blocked_until > now else ""
                state = lvl + (f" · +{compact(g.invisible)} invisible" if getattr(g, "invisible", 0) else "")
                table.add_row(model, LABELS[dim], f"{compact(g.used)}/{limit}",
                              "" if g.remaining is None else compact(g.remaining), resets, blocked,
                              g.source, state)
            spark = self.query(f"#spark-{model.replace('.', '_')}")
            if spark:
                history = self.samples.get(model) or []
                spark.first(Sparkline).data = [*history, float(dims["rpd"].used)] if history else [
                    0.0, float(dims["rpd"].used)]
