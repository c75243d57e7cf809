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

    def __init__(self, runtime: Any, store: Any = None) -> None:
        super().__init__()
        self.runtime = runtime

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
            yield Static("today (Pacific day, midnight to midnight): requests per hour-slice", classes="title")
            for model in self._models():
                key = model.replace(".", "_")
                yield Static(model, classes="hint", id=f"spark-label-{key}")
                yield Sparkline([0.0] * 24, id=f"spark-{key}")
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
                # 0 (not offered on this tier) and unlimited (None) both read "n/a", never "0/n/a"
                usage = f"{compact(g.used)}/{compact(g.limit)}" if g.limit else "n/a"
                resets = ""
                if g.resets_at and g.used:
                    resets = f"{local_time(g.resets_at)} ({duration(g.resets_at - now)})"
                blocked = local_time(g.blocked_until) if g.blocked_until and g.blocked_until > now else ""
                state = ("n/a" if lvl == "na" else lvl) + (
                    f" · +{compact(g.invisible)} invisible" if getattr(g, "invisible", 0) else "")
                table.add_row(model, LABELS[dim], usage,
                              "" if g.remaining is None or not g.limit else compact(g.remaining), resets, blocked,
                              g.source, state)
            self._sparkline(model, dims)

    def _sparkline(self, model: str, dims: dict[str, Any]) -> None:
        """Today's requests in 24 slices of the Pacific day (`engine.usage_today`), and the totals."""
        key = model.replace(".", "_")
        spark = self.query(f"#spark-{key}")
        if not spark:
            return
        rt = self.runtime
        series = rt.engine.usage_today(rt.project, model, buckets=24)
        requests = sum(r for r, _tokens in series)
        tokens = sum(t for _requests, t in series)
        spark.first(Sparkline).data = [float(r) for r, _tokens in series]
        rpd = dims.get("rpd")
        of = f" of {compact(rpd.limit)}" if rpd is not None and rpd.limit else ""
        text = f"{model} · {requests} request{'s' if requests != 1 else ''}{of} today · {compact(tokens)} input tokens"
        label = self.query_one(f"#spark-label-{key}", Static)
        if str(label.content) != text:
            label.update(text)
