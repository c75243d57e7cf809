"""Google's error envelope and the bodies the real service sends, built from the wire facts."""

from __future__ import annotations

from gemtui.emulator.limits import quota_id, quota_metric
from gemtui.emulator.quota import Violation

RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

HTML_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def echoed(payload: dict, echo: str) -> dict:
    """`payload` (an error envelope) with `echo` added to its message, as a careless server repeats what
    it was sent (a fault's `echo`)."""
    if echo:
        payload["error"]["message"] = f"{payload['error']['message']} {echo}"
    return payload


def html_bad_gateway(echo: str = "") -> str:
    """The nginx 502 page; a fault's `echo` goes into its body only (the title stays nginx's)."""
    if not echo:
        return HTML_BAD_GATEWAY
    return HTML_BAD_GATEWAY.replace("<hr>", f"<p>upstream said: {echo}</p>\r\n<hr>")


def envelope(code: int, message: str, details: list | None = None, status: str | None = None) -> dict:
    err: dict = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


def invalid_key() -> dict:
    message = "API key not valid. Please pass a valid API key."
    return envelope(
        400,
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
        ],
    )


def missing_key() -> dict:
    return envelope(
        403,
        "Method doesn't allow unregistered callers (callers without established identity)."
        " Please use API Key or other form of API consumer identity to call this API.",
    )


def forbidden_key(project: str) -> dict:
    return envelope(
        403,
        f"Permission denied: Consumer 'projects/{project}' has been suspended.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CONSUMER_SUSPENDED",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com", "consumer": f"projects/{project}"},
            },
        ],
    )


def model_not_found(model: str, version: str, method: str) -> dict:
    return envelope(
        404,
        f"models/{model} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
    )


def bad_request(message: str) -> dict:
    return envelope(400, message)


def overloaded() -> dict:
    return envelope(503, "The model is overloaded. Please try again later.")


def internal() -> dict:
    return envelope(
        500,
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def bare_429() -> dict:
    return envelope(429, "Resource has been exhausted (e.g. check quota).")


def format_delay(seconds: float) -> str:
    """ "26s" when whole, else up to microseconds ("12.345678s"), as RetryInfo.retryDelay prints it."""
    seconds = max(0.0, seconds)
    micros = round(seconds * 1_000_000)
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    return f"{micros / 1_000_000:.6f}".rstrip("0") + "s"


def quota_exceeded(violations: list[Violation], tier: str, model: str) -> dict:
    """A 429 naming every exceeded limit; the retry delay is the longest wait among them."""
    delay = format_delay(max(v.retry_after for v in violations))
    lines = [
        "You exceeded your current quota, please check your plan and billing details. For more information "
        f"on this error, head to: {RATE_LIMITS_URL}. To monitor your current usage, head to: "
        "https://ai.dev/usage?tab=rate-limit. "
    ]
    wire = []
    for v in violations:
        metric = quota_metric(v.dim, tier)
        lines.append(f"* Quota exceeded for metric: {metric}, limit: {v.limit}, model: {model}")
        wire.append(
            {
                "quotaMetric": metric,
                "quotaId": quota_id(v.dim, tier),
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": str(v.limit),
            }
        )
    lines.append(f"Please retry in {delay}.")
    return envelope(
        429,
        "\n".join(lines),
        [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": wire},
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_URL}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )
