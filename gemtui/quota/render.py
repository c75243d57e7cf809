"""Plain-text rendering of `QuotaEngine.gauges_json` for `gemtui quota` (times in the local zone)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_HEADERS = ("MODEL", "DIM", "USED/LIMIT", "REMAINING", "RESETS AT", "BLOCKED UNTIL", "SOURCE")


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
            rows.append((
                model,
                dim.upper(),
                f"{_num(g.get('used'))}/{_num(g.get('limit'))}",
                _num(g.get("remaining")) if g.get("limit") is not None else "-",
                _local(g.get("resets_at"), today),
                _local(g.get("blocked_until"), today),
                str(g.get("source", "")),
            ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    lines = [f"profile {data.get('profile', '?')} · tier {data.get('tier', '?')}"]
    for row in (_HEADERS, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
