"""The quota engine: limits, a shared ledger, exact admission and what 429s teach. No Textual, no SDK."""

from gemtui.quota.admission import Admission, RequestCost
from gemtui.quota.engine import QuotaEngine, RetryVerdict
from gemtui.quota.gauges import Gauge
from gemtui.quota.limits import FALLBACK_ORDER, LimitTable, ModelLimits, resolve_model
from gemtui.quota.signals import QuotaHit, Violation

__all__ = [
    "FALLBACK_ORDER",
    "Admission",
    "Gauge",
    "LimitTable",
    "ModelLimits",
    "QuotaEngine",
    "QuotaHit",
    "RequestCost",
    "RetryVerdict",
    "Violation",
    "resolve_model",
]
