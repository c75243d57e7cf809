"""Plain-text rendering of `QuotaEngine.gauges_json` for `gemtui quota` (times in the local zone).

CLI formatting, so it lives with the command; the engine only produces the document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gemtui.sparkline import SPARK_ZERO, sparkline
from gemtui.timefmt import history_span

_HEADERS = ("MODEL", "DIM", "USED/LIMIT", "REMAINING", "RESETS AT", "BLOCKED UNTIL", "SOURCE")


LEARNING = "unknown — learning"  # a limit the server has not told us yet


def _limit(gauge: dict[str, Any]) -> str:
    """The limit column: a number, "unlimited", or "unknown" where nobody has said yet."""
    if gauge.get("limit") is None and gauge.get("source") == "unknown":
        return "unknown"
    if gauge.get("limit") is None and gauge.get("source") == "n/a":  # a server whose headers never state it
        return "n/a"
    return _num(gauge.get("limit"))


def _num(value: Any) -> str:
    if value is None:
        return "unlimited"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _local(iso: str | None, today: datetime) -> str:
    if not iso:
        return "-"
    when = datetime.fromisoformat(iso).astimezone()
    return when.strftime("%H:%M:%S" if when.date() == today.date() else "%a %d %b %H:%M")


def format_gauges_table(data: dict[str, Any], now: datetime | None = None) -> str:
    """One line per model and dimension, aligned; a header line names the profile and the tier."""
    today = (now or datetime.now()).astimezone()
    rows: list[tuple[str, ...]] = []
    for model, dims in data.get("models", {}).items():
        for dim, g in dims.items():
            rows.append(
                (
                    model,
                    dim.upper(),
                    f"{_num(g.get('used'))}/{_limit(g)}",
                    _num(g.get("remaining")) if g.get("limit") is not None else "-",
                    _local(g.get("resets_at"), today),
                    _local(g.get("blocked_until"), today),
                    LEARNING if g.get("source") == "unknown" else str(g.get("source", "")),
                )
            )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    lines = [f"profile {data.get('profile', '?')} · tier {data.get('tier', '?')}"]
    for row in (_HEADERS, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_history(data: dict[str, Any]) -> str:
    """Requests per Pacific day as a sparkline, and the period's totals, one line per model."""
    history = data.get("history") or {}
    if not history:
        return ""
    spans = [history_span([d["day"] for d in h.get("days", [])]) for h in history.values()]
    lines = [f"last {data.get('history_days', '?')} Pacific days ({spans[0]}), requests per day; {SPARK_ZERO} = none"]
    width = max(len(model) for model in history)
    for model, h in history.items():
        totals = h.get("totals", {})
        spark = sparkline([d.get("requests", 0) for d in h.get("days", [])])
        lines.append(
            f"{model.ljust(width)}  {spark}  {_num(totals.get('requests', 0))} requests · "
            f"{_num(totals.get('input_tokens', 0))} input tokens · {_num(totals.get('images', 0))} images"
        )
    return "\n".join(lines)


def circuit_text(circuit: dict[str, Any], today: datetime) -> str:
    """`circuit open — probing at 12:03:30`, `circuit half-open — probing`; "" for a closed circuit."""
    state = circuit.get("state")
    if state == "open":
        return f"circuit open — probing at {_local(circuit.get('probe_at'), today)}"
    if state == "half_open":
        return "circuit half-open — probing" if circuit.get("probing") else "circuit half-open — next request probes"
    return ""


def format_circuits(data: dict[str, Any], now: datetime | None = None) -> str:
    """One line per model whose circuit breaker is not closed (nothing when all are)."""
    today = (now or datetime.now()).astimezone()
    lines = []
    for model, circuit in (data.get("circuits") or {}).items():
        text = circuit_text(circuit, today)
        if not text:
            continue
        if circuit.get("requests"):
            text += f" ({circuit.get('failures', 0)} failures of {circuit['requests']} requests in its window)"
        lines.append(f"{model}  {text}")
    return "\n".join(lines)
