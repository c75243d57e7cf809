"""One gauge line per quota dimension: used / limit, a bar coloured by threshold, time to reset.

The formatting is plain functions over the engine's Gauge values so the quota screen, the model
picker and tests share them; the widget re-renders only when its text would change.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from gemtui.timefmt import duration, local_time

WARN_AT = 0.80
CRITICAL_AT = 0.95
LABELS = {"rpm": "RPM", "tpm": "TPM", "rpd": "RPD", "ipm": "IPM"}
BAR_WIDTH = 8


def compact(n: float | int | None) -> str:
    """12345 → 12.3k; keeps gauges narrow enough for a side panel."""
    if n is None:
        return "∞"
    n = float(n)
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f}{unit}".replace(".0" + unit, unit) if value < 100 else f"{value:.0f}{unit}"
    return f"{n:.0f}"


def fraction(gauge: Any) -> float | None:
    """Used share of the limit, or None where the limit is unlimited or 0 (n/a)."""
    if gauge is None or not gauge.limit:
        return None
    return max(0.0, gauge.used / gauge.limit)


def level(gauge: Any, now: float) -> str:
    """normal / warning / critical / blocked / na — the colour a gauge is drawn in."""
    if gauge is None:
        return "na"
    if gauge.blocked_until and gauge.blocked_until > now:
        return "blocked"
    share = fraction(gauge)
    if share is None:
        return "na"
    if share >= CRITICAL_AT:
        return "critical"
    if share >= WARN_AT:
        return "warning"
    return "normal"


def bar(share: float, width: int = BAR_WIDTH) -> str:
    filled = min(width, round(share * width))
    if share > 0 and filled == 0:
        filled = 1
    return "█" * filled + "░" * (width - filled)


def reset_text(dimension: str, gauge: Any, now: float) -> str:
    """`0:42`, or for RPD the local clock time of Pacific midnight plus its countdown."""
    if gauge.blocked_until and gauge.blocked_until > now:
        return f"blocked until {local_time(gauge.blocked_until)} ({duration(gauge.blocked_until - now)})"
    if not gauge.resets_at or gauge.used <= 0:
        return ""
    if dimension == "rpd":
        return f"{local_time(gauge.resets_at)[:5]} ({duration(gauge.resets_at - now)})"
    return duration(gauge.resets_at - now)


def gauge_line(dimension: str, gauge: Any, now: float) -> tuple[str, str]:
    """(text, level) for one dimension; text has no markup so the widget colours it."""
    label = LABELS.get(dimension, dimension.upper())
    lvl = level(gauge, now)
    if gauge is None or lvl == "na" and not gauge.limit:
        return f"{label} {'n/a':>{BAR_WIDTH}} {'':>11}", "na"
    share = fraction(gauge) or 0.0
    used = f"{compact(gauge.used)}/{compact(gauge.limit)}"
    text = f"{label} {bar(share)} {used:>11}"
    when = reset_text(dimension, gauge, now)
    if when:
        text += f"  {when}"
    if getattr(gauge, "invisible", None):
        inv = gauge.invisible
        text += f"  +{compact(inv)} invisible usage" if not isinstance(inv, bool) else "  invisible usage"
    return text, lvl


def compact_line(model: str, gauges: dict[str, Any], now: float) -> tuple[str, str]:
    """One line for a fallback model: the dimensions that have a limit, coloured by the worst."""
    order = ("normal", "na", "warning", "critical", "blocked")
    worst = "normal"
    parts: list[str] = []
    blocked: float | None = None
    for dim in ("rpm", "tpm", "rpd"):
        gauge = gauges.get(dim)
        lvl = level(gauge, now)
        if order.index(lvl) > order.index(worst):
            worst = lvl
        if gauge is None or not gauge.limit:
            continue
        if gauge.blocked_until and gauge.blocked_until > now:
            blocked = max(blocked or 0, gauge.blocked_until)
        if dim == "tpm":
            parts.append(f"TPM {round(100 * (fraction(gauge) or 0))}%")
        else:
            parts.append(f"{LABELS[dim]} {compact(gauge.used)}/{compact(gauge.limit)}")
    body = " · ".join(parts) or "n/a"
    if blocked:
        body = f"blocked until {local_time(blocked)} ({duration(blocked - now)})"
    return body, worst


def style_for(app: Any, lvl: str) -> str:
    """A Rich style from the active theme, so gauges follow /theme."""
    theme = getattr(app, "current_theme", None)
    if theme is None:
        return ""
    return {
        "normal": theme.success or "green",
        "warning": theme.warning or "yellow",
        "critical": f"bold {theme.error or 'red'}",
        "blocked": f"bold {theme.error or 'red'}",
        "na": "dim",
    }.get(lvl, "")


class GaugeLine(Static):
    """A single gauge; `show(text, level)` repaints only when something changed."""

    DEFAULT_CSS = "GaugeLine { height: 1; width: 1fr; }"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("", *args, **kwargs)
        self._key: tuple[str, str, str] | None = None
        self.level = "na"

    def show(self, text: str, lvl: str, prefix: str = "") -> bool:
        key = (prefix, text, lvl)
        if key == self._key:
            return False
        self._key = key
        self.level = lvl
        for name in ("normal", "warning", "critical", "blocked", "na"):
            self.set_class(name == lvl, f"-{name}")
        rendered = Text(prefix, style="bold")
        rendered.append(text, style=style_for(self.app, lvl))
        self.update(rendered)
        return True

    def repaint(self) -> None:
        """Theme changed: colours come from the theme, so draw again."""
        if self._key is not None:
            prefix, text, lvl = self._key
            self._key = None
            self.show(text, lvl, prefix)
