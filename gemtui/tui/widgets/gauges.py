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
DIMENSIONS = ("rpm", "tpm", "rpd", "ipm")
LEVEL_ORDER = ("normal", "na", "warning", "critical", "blocked")
PANEL_WIDTH = 46  # the side panel is 48 columns: its border and one column of padding leave 46


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


def until_text(until: float, now: float) -> str:
    """`12:03:45 (0:42)`; an hour or more away the seconds of the clock time are dropped
    (`09:00 (11:23:45)`) so a day-long block still fits a 46-column line."""
    clock = local_time(until)
    if until - now >= 3600:
        clock = clock[:5]
    return f"{clock} ({duration(until - now)})"


def blocked_text(until: float, now: float) -> str:
    return f"blocked until {until_text(until, now)}"


def is_blocked(gauge: Any, now: float) -> bool:
    return bool(gauge is not None and gauge.blocked_until and gauge.blocked_until > now)


def reset_text(dimension: str, gauge: Any, now: float) -> str:
    """`0:42`, or for RPD the local clock time of Pacific midnight plus its countdown."""
    if is_blocked(gauge, now):
        return blocked_text(gauge.blocked_until, now)
    if not gauge.resets_at or gauge.used <= 0:
        return ""
    if dimension == "rpd":
        return f"{local_time(gauge.resets_at)[:5]} ({duration(gauge.resets_at - now)})"
    return duration(gauge.resets_at - now)


LEARNING = "unknown — learning"


def learning(gauge: Any) -> bool:
    """A limit nobody has told us yet (a model the table does not know, before its first 429)."""
    return gauge is not None and gauge.limit is None and getattr(gauge, "source", "") == "unknown"


def usage_text(gauge: Any) -> str:
    """`3/5`, `12.3k/250k`; `n/a` where the limit is 0 (not offered) or unlimited."""
    if learning(gauge):
        return f"{compact(gauge.used)}/?"
    if gauge is None or not gauge.limit:
        return "n/a"
    return f"{compact(gauge.used)}/{compact(gauge.limit)}"


def _invisible_text(gauge: Any) -> str:
    inv = getattr(gauge, "invisible", None)
    if not inv:
        return ""
    return f"+{compact(inv)} invisible" if not isinstance(inv, bool) else "invisible usage"


def _team_text(gauge: Any) -> str:
    """`2 team`: how much of `used` other machines sharing a team ledger booked."""
    team = getattr(gauge, "team", 0)
    return f"{compact(team)} team" if isinstance(team, int) and not isinstance(team, bool) and team else ""


def gauge_line(dimension: str, gauge: Any, now: float) -> tuple[str, str]:
    """(text, level) for one dimension; text has no markup so the widget colours it.

    A blocked dimension trades its bar for the block: `RPD 3/100 blocked until 09:00 (11:23:45)`,
    which fits the side panel's 46 columns whatever the numbers.
    """
    label = LABELS.get(dimension, dimension.upper())
    lvl = level(gauge, now)
    if is_blocked(gauge, now):
        return f"{label} {usage_text(gauge)} {blocked_text(gauge.blocked_until, now)}", lvl
    if learning(gauge):
        return f"{label} {LEARNING:>{BAR_WIDTH}} {usage_text(gauge):>11}", "na"
    if gauge is None or lvl == "na" and not gauge.limit:
        return f"{label} {'n/a':>{BAR_WIDTH}} {'':>11}", "na"
    share = fraction(gauge) or 0.0
    text = f"{label} {bar(share)} {usage_text(gauge):>11}"
    when = reset_text(dimension, gauge, now)
    if when:
        text += f"  {when}"
    team = _team_text(gauge)
    if team:
        text += f"  {team}"
    invisible = _invisible_text(gauge)
    if invisible:
        text += f"  {invisible}"
    return text, lvl


def circuit_line(circuit: Any, now: float) -> tuple[str, str] | None:
    """A model's circuit breaker when it is not closed: `circuit open — probing at 12:03:30 (0:21)`,
    `circuit half-open — probing`; None when closed (nothing to show)."""
    state = getattr(circuit, "state", "closed")
    if state == "open" and circuit.probe_at is not None:
        return f"circuit open — probing at {until_text(circuit.probe_at, now)}", "blocked"
    if state == "half_open":
        return (
            "circuit half-open — probing" if circuit.probing else "circuit half-open — next request probes"
        ), "blocked"
    return None


def gauge_cell(dimension: str, gauge: Any, now: float) -> tuple[str, str]:
    """One dimension of a fallback model, without a bar: `RPM 3/10 0:42`, `RPD 45/250 11:23:45`,
    `IPM n/a`, or `RPM 5/5 blocked until 12:03:45 (0:42)`. The time is when `used` next falls."""
    label = LABELS.get(dimension, dimension.upper())
    lvl = level(gauge, now)
    if is_blocked(gauge, now):
        return f"{label} {usage_text(gauge)} {blocked_text(gauge.blocked_until, now)}", lvl
    text = f"{label} {usage_text(gauge)}"
    if gauge is not None and gauge.limit and gauge.used > 0 and gauge.resets_at:
        text += f" {duration(gauge.resets_at - now)}"
    team = _team_text(gauge)
    if gauge is not None and team:
        text += f" {team}"
    invisible = _invisible_text(gauge)
    if gauge is not None and invisible:
        text += f" {invisible}"
    return text, lvl


def pack_cells(cells: list[tuple[str, str]], width: int = PANEL_WIDTH, gap: int = 2) -> list[list[tuple[str, str]]]:
    """Cells two to a line in aligned columns where both fit `width`; a longer cell (a block, a
    big number) gets a line of its own. Order is kept, nothing is cut."""
    column = (width - gap) // 2
    lines: list[list[tuple[str, str]]] = []
    pending: tuple[str, str] | None = None
    for cell in cells:
        if len(cell[0]) > column:
            if pending is not None:
                lines.append([pending])
                pending = None
            lines.append([cell])
        elif pending is None:
            pending = cell
        else:
            lines.append([(pending[0].ljust(column + gap), pending[1]), cell])
            pending = None
    if pending is not None:
        lines.append([pending])
    return lines


def fallback_lines(gauges: dict[str, Any], now: float, width: int = PANEL_WIDTH) -> list[list[tuple[str, str]]]:
    """Every dimension of a fallback model with its reset, as lines of (text, level) cells."""
    return pack_cells([gauge_cell(dim, gauges.get(dim), now) for dim in DIMENSIONS], width)


def worst_level(levels: Any) -> str:
    """The most urgent level; a dimension that does not apply (n/a) never dims the others."""
    seen = [lvl for lvl in levels if lvl != "na"]
    if not seen:
        return "na"
    return max(seen, key=LEVEL_ORDER.index)


def compact_line(model: str, gauges: dict[str, Any], now: float) -> tuple[str, str]:
    """One line for a model (narrow layout, model picker): the dimensions that have a limit,
    coloured by the worst; a block replaces them with its time."""
    parts: list[str] = []
    blocked: float | None = None
    for dim in DIMENSIONS:
        gauge = gauges.get(dim)
        if gauge is None or not gauge.limit:
            continue
        if is_blocked(gauge, now):
            blocked = max(blocked or 0, gauge.blocked_until)
        if dim == "tpm":
            parts.append(f"TPM {round(100 * (fraction(gauge) or 0))}%")
        else:
            parts.append(f"{LABELS[dim]} {compact(gauge.used)}/{compact(gauge.limit)}")
    if not parts and any(learning(gauges.get(dim)) for dim in DIMENSIONS):
        parts.append(f"limits {LEARNING}")
    body = " · ".join(parts) or "n/a"
    if blocked:
        body = blocked_text(blocked, now)
    return body, worst_level(level(gauges.get(dim), now) for dim in DIMENSIONS)


def threshold_notice(model: str, dimension: str, gauge: Any, now: float) -> str:
    """The toast when a gauge climbs a level: `gemini-2.5-pro: RPM 4/5 — 80 % of the limit`,
    `… RPM 5/5 — blocked until 12:03:45 (0:42)`."""
    label = LABELS.get(dimension, dimension.upper())
    usage = f" {compact(gauge.used)}/{compact(gauge.limit)}" if gauge is not None and gauge.limit else ""
    if is_blocked(gauge, now):
        what = blocked_text(gauge.blocked_until, now)
    else:
        what = f"{int(100 * (fraction(gauge) or 0.0) + 1e-9)} % of the limit"
    return f"{model}: {label}{usage} — {what}"


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


class GaugeCells(Static):
    """A few gauges on a few lines, each cell in its own level's colour (a fallback model's dimensions);
    `show(lines)` repaints only when something changed. Too long a line wraps rather than being cut."""

    DEFAULT_CSS = "GaugeCells { height: auto; width: 1fr; }"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("", *args, **kwargs)
        self._key: tuple[tuple[tuple[str, str], ...], ...] | None = None
        self.level = "na"

    def show(self, lines: list[list[tuple[str, str]]]) -> bool:
        key = tuple(tuple(line) for line in lines)
        if key == self._key:
            return False
        self._key = key
        self.level = worst_level(lvl for line in lines for _text, lvl in line)
        for name in LEVEL_ORDER:
            self.set_class(name == self.level, f"-{name}")
        rendered = Text()
        for number, line in enumerate(lines):
            if number:
                rendered.append("\n")
            for text, lvl in line:
                rendered.append(text, style=style_for(self.app, lvl))
        self.update(rendered)
        return True

    def repaint(self) -> None:
        """Theme changed: colours come from the theme, so draw again."""
        if self._key is not None:
            lines = [list(line) for line in self._key]
            self._key = None
            self.show(lines)
