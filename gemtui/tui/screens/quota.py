"""/quota: every model, every dimension, where each limit came from; the usage history kept (one sparkline
character per Pacific day, and the period's totals); and today's usage by hour."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from gemtui.sparkline import SPARK_ZERO, sparkline
from gemtui.timefmt import duration, history_span, local_time
from gemtui.tui.literal import cell
from gemtui.tui.widgets.gauges import LABELS, LEARNING, circuit_line, compact, learning, level


class QuotaScreen(Screen[None]):
    CSS_PATH = "quota.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, runtime: Any, store: Any = None) -> None:
        super().__init__()
        self.runtime = runtime
        self._history_key: tuple[Any, ...] | None = None
        # Widget ids by position, never from the model's name: a link's id (`profile:model`) or a server's
        # model id may hold characters an id cannot.
        self._spark_ids: dict[str, str] = {}

    def _models(self) -> list[str]:
        from gemtui.chat.router import route_chain

        table = getattr(self.runtime.engine, "table", None)
        known = list(table.models()) if table is not None else []
        return list(dict.fromkeys([*route_chain(), *known]))

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="quota-body"):
            rt = self.runtime
            yield Static(
                f"profile {rt.profile_name} · project {rt.project} · tier {getattr(rt.engine, 'tier', rt.tier)}",
                classes="title",
                markup=False,
            )
            yield Static("", id="quota-problem", classes="hint", markup=False)
            yield DataTable(id="quota-table", zebra_stripes=True, cursor_type="row")
            yield Static("", id="circuits", classes="hint", markup=False)
            days = getattr(rt.engine, "history_days", 30)
            yield Static(
                f"last {days} Pacific days (as RPD counts them): requests per day, {SPARK_ZERO} = none; "
                "totals over the period",
                classes="title",
                id="history-title",
            )
            yield DataTable(id="history-table", zebra_stripes=True, cursor_type="row")
            yield Static("today (Pacific day, midnight to midnight): requests per hour-slice", classes="title")
            for index, model in enumerate(self._models()):
                key = self._spark_ids.setdefault(model, f"m{index}")
                yield Static(model, classes="hint", id=f"spark-label-{key}", markup=False)
                yield Sparkline([0.0] * 24, id=f"spark-{key}")
            yield Static(
                "sources: table = published limits · config = your config.toml · "
                f"learned = a 429 said so · {LEARNING} = a model the table does not know, "
                "until its first 429 says",
                classes="hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        from datetime import timedelta

        from gemtui.quota.pacific import pacific_day

        rt = self.runtime
        today = pacific_day(rt.engine.clock.now())
        days = getattr(rt.engine, "history_days", 30)
        span = history_span([(today - timedelta(days=days - 1)).isoformat(), today.isoformat()])
        history = self.query_one("#history-table", DataTable)
        history.add_columns("model", span, "requests", "input tokens", "images", "busiest day")
        table = self.query_one("#quota-table", DataTable)
        table.add_columns("model", "dim", "used/limit", "remaining", "resets", "blocked until", "source", "state")
        self.refresh_table()
        self.set_interval(1.0, self.refresh_table)

    def refresh_table(self) -> None:
        """Every second; a ledger that is locked or damaged meanwhile is one line here, not the app's end."""
        try:
            self._refresh_table()
        except Exception as exc:
            from gemtui.errors import one_line

            line = f"cannot read the ledger: {one_line(exc)}"
            problem = self.query_one("#quota-problem", Static)
            if str(problem.content) != line:  # logged once, not each second
                from gemtui.log import get_logger

                get_logger(__name__).exception("/quota could not read the ledger")
                problem.update(line)
            problem.display = True
            return
        self.query_one("#quota-problem", Static).display = False

    def _refresh_table(self) -> None:
        rt = self.runtime
        now = rt.engine.clock.now()
        gauges = rt.engine.gauges(rt.project, self._models())
        table = self.query_one("#quota-table", DataTable)
        table.clear()
        for model, dims in gauges.items():
            for dim, g in dims.items():
                lvl = level(g, now)
                # 0 (not offered on this tier) and unlimited (None) both read "n/a", never "0/n/a"
                usage = f"{compact(g.used)}/{compact(g.limit)}" if g.limit else "n/a"
                if learning(g):
                    usage = f"{compact(g.used)}/?"
                resets = ""
                if g.resets_at and g.used:
                    resets = f"{local_time(g.resets_at)} ({duration(g.resets_at - now)})"
                blocked = local_time(g.blocked_until) if g.blocked_until and g.blocked_until > now else ""
                state = ("n/a" if lvl == "na" else lvl) + (
                    f" · +{compact(g.invisible)} invisible" if getattr(g, "invisible", 0) else ""
                )
                table.add_row(
                    *map(
                        cell,
                        (
                            model,
                            LABELS[dim],
                            usage,
                            "" if g.remaining is None or not g.limit else compact(g.remaining),
                            resets,
                            blocked,
                            LEARNING if learning(g) else g.source,
                            state,
                        ),
                    )
                )
            self._sparkline(model, dims)
        self._circuits(list(gauges), now)
        self.refresh_history(list(gauges))

    def _circuits(self, models: list[str], now: float) -> None:
        """One line per model whose circuit breaker is not closed; the line is hidden when all are."""
        lines = []
        for model, circuit in self.runtime.engine.circuits(models).items():
            shown = circuit_line(circuit, now)
            if shown is not None:
                lines.append(f"{model}: {shown[0]}")
        widget = self.query_one("#circuits", Static)
        widget.display = bool(lines)
        if str(widget.content) != "\n".join(lines):
            widget.update("\n".join(lines))

    def refresh_history(self, models: list[str]) -> None:
        """One row per model: its requests per Pacific day over the history kept, and the totals.
        Rebuilt only when a number changed (the screen refreshes every second)."""
        rt = self.runtime
        series = {model: rt.engine.usage_history(rt.project, model) for model in models}
        key = tuple((model, tuple(days)) for model, days in series.items())
        if key == self._history_key:
            return
        self._history_key = key
        table = self.query_one("#history-table", DataTable)
        table.clear()
        for model, days in series.items():
            requests = sum(d.requests for d in days)
            busiest = max(days, key=lambda d: d.requests, default=None)
            peak = f"{busiest.day:%a %b %d}: {busiest.requests}" if busiest is not None and busiest.requests else ""
            table.add_row(
                Text(model),
                Text(sparkline([d.requests for d in days])),
                Text(f"{requests:,}", justify="right"),
                Text(f"{sum(d.tokens for d in days):,}", justify="right"),
                Text(f"{sum(d.images for d in days):,}", justify="right"),
                Text(peak),
            )

    def day_widgets(self, model: str) -> tuple[Static, Sparkline] | None:
        """The label and sparkline of `model`'s day, if the screen lists it."""
        key = self._spark_ids.get(model)
        if key is None or not self.query(f"#spark-{key}"):
            return None
        return self.query_one(f"#spark-label-{key}", Static), self.query_one(f"#spark-{key}", Sparkline)

    def _sparkline(self, model: str, dims: dict[str, Any]) -> None:
        """Today's requests in 24 slices of the Pacific day (`engine.usage_today`), and the totals."""
        widgets = self.day_widgets(model)
        if widgets is None:
            return
        label, spark = widgets
        rt = self.runtime
        series = rt.engine.usage_today(rt.project, model, buckets=24)
        requests = sum(r for r, _tokens in series)
        tokens = sum(t for _requests, t in series)
        spark.data = [float(r) for r, _tokens in series]
        rpd = dims.get("rpd")
        of = f" of {compact(rpd.limit)}" if rpd is not None and rpd.limit else ""
        text = f"{model} · {requests} request{'s' if requests != 1 else ''}{of} today · {compact(tokens)} input tokens"
        if str(label.content) != text:
            label.update(text)
