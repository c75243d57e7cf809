"""Reading a 429 body: which limits were hit, their values, and how long the server wants us to wait.

Quota ids are classified by their words (Requests / InputTokens / Images, PerMinute / PerDay), not by
exact strings, because Google renames them. The message text is the fallback when details are missing.
"""

from __future__ import annotations

import re
from typing import Any

from gemtui.quota.signals import Dimension, QuotaHit, Violation

_DELAY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)s\s*$")
_RETRY_IN = re.compile(r"[Pp]lease retry in ([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b")
_METRIC_LINE = re.compile(
    r"Quota exceeded for metric:\s*(?P<metric>[\w./-]+),\s*limit:\s*(?P<limit>\d+)(?:,\s*model:\s*(?P<model>[\w.-]+))?"
)


def parse_delay(value: Any) -> float | None:
    """`"26s"` or `"45.837906927s"` → seconds; anything else → None."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):  # protobuf Duration as JSON object
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        match = _DELAY.match(value)
        if match:
            return float(match.group(1))
    return None


def parse_retry_after(value: Any, date: str | None = None) -> float | None:
    """A `Retry-After` header in seconds: delta-seconds (`"3"`), or an HTTP-date measured against
    the same response's `Date` header (the server's clock, not ours). Anything else → None."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if 0 <= seconds < 7 * 86400 else None
    if not date:
        return None
    from email.utils import parsedate_to_datetime

    try:
        delta = (parsedate_to_datetime(text) - parsedate_to_datetime(date)).total_seconds()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, delta) if delta < 7 * 86400 else None


def _dimension(words: str) -> Dimension | None:
    """Which of our dimensions a quota id or metric names, from its words."""
    text = words.lower()
    per_day = "perday" in text or "per_day" in text or "daily" in text
    if "image" in text:
        return "ipm"
    if "token" in text:
        return "tpd" if per_day else "tpm"
    if "request" in text:
        return "rpd" if per_day else "rpm"
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _violation(raw: dict[str, Any]) -> Violation | None:
    quota_id = str(raw.get("quotaId") or raw.get("quota_id") or "")
    metric = str(raw.get("quotaMetric") or raw.get("quota_metric") or "")
    # The id carries the period (PerMinute/PerDay); the metric only the kind. Read both.
    dimension = _dimension(quota_id) or _dimension(metric)
    if dimension is None:
        return None
    dims = raw.get("quotaDimensions") or raw.get("quota_dimensions") or {}
    free = "freetier" in (quota_id + metric).lower().replace("_", "")
    return Violation(
        dimension=dimension,
        limit=_int_or_none(raw.get("quotaValue", raw.get("quota_value"))),
        free_tier=free if (quota_id or metric) else None,
        model=dims.get("model") if isinstance(dims, dict) else None,
        quota_id=quota_id or metric,
    )


def error_object(body: Any) -> dict[str, Any]:
    """The `error` object of Google's envelope, whether or not the envelope is present."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def parse_quota_hit(body: Any) -> QuotaHit:
    """Classify a 429 body into a QuotaHit (no violations = a bare 429: no evidence about any limit)."""
    error = error_object(body)
    message = str(error.get("message") or "")
    violations: list[Violation] = []
    delay: float | None = None
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("QuotaFailure"):
            for raw in detail.get("violations") or []:
                if isinstance(raw, dict) and (violation := _violation(raw)):
                    violations.append(violation)
        elif kind.endswith("RetryInfo"):
            delay = parse_delay(detail.get("retryDelay", detail.get("retry_delay")))
    if not violations:
        for match in _METRIC_LINE.finditer(message):
            metric = match.group("metric")
            period_hint = "PerDay" if "day" in message[match.start() : match.end()].lower() else ""
            dimension = _dimension(metric + period_hint)
            if dimension:
                violations.append(
                    Violation(
                        dimension=dimension,
                        limit=int(match.group("limit")),
                        free_tier="free_tier" in metric,
                        model=match.group("model"),
                        quota_id=metric,
                    )
                )
    if delay is None and (match := _RETRY_IN.search(message)):
        delay = float(match.group(1)) / (1000.0 if match.group(2) == "ms" else 1.0)
    return QuotaHit(violations=tuple(_dedupe(violations)), retry_delay_s=delay)


def _dedupe(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, int | None]] = set()
    unique = []
    for violation in violations:
        key = (violation.dimension, violation.limit)
        if key not in seen:
            seen.add(key)
            unique.append(violation)
    return unique
