"""Reading 429 bodies: the shapes Google sends, in the orders and variants seen in the wild."""

from __future__ import annotations

from gemtui.gemini.ratelimit import parse_delay, parse_quota_hit

TOKEN_BODY = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
                        "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                        "quotaValue": "250000",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
        ],
    }
}


def test_token_per_minute_body():
    hit = parse_quota_hit(TOKEN_BODY)
    assert hit.retry_delay_s == 26.0
    (violation,) = hit.violations
    assert violation.dimension == "tpm"
    assert violation.limit == 250000
    assert violation.free_tier is True
    assert violation.model == "gemini-2.5-flash"
    assert not hit.per_day


def test_several_violations_any_order_with_fractional_delay():
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "45.837906927s"},
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaValue": "5",
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        },
                        {
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaValue": "100",
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        },
                    ],
                },
            ],
        }
    }
    hit = parse_quota_hit(body)
    assert [v.dimension for v in hit.violations] == ["rpm", "rpd"]
    assert [v.limit for v in hit.violations] == [5, 100]
    assert abs(hit.retry_delay_s - 45.837906927) < 1e-9
    assert hit.per_day


def test_paid_tier_ids_are_not_free():
    body = {
        "error": {
            "code": 429,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute", "quotaValue": "2000000"}
                    ],
                }
            ],
        }
    }
    (violation,) = parse_quota_hit(body).violations
    assert violation.dimension == "tpm" and violation.free_tier is False and violation.limit == 2_000_000


def test_message_fallback_when_details_missing():
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": (
                "You exceeded your current quota.\n* Quota exceeded for metric: "
                "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 5, "
                "model: gemini-2.5-pro\n"
                "Please retry in 20.04466179s."
            ),
        }
    }
    hit = parse_quota_hit(body)
    (violation,) = hit.violations
    assert violation.dimension == "rpm" and violation.limit == 5 and violation.model == "gemini-2.5-pro"
    assert abs(hit.retry_delay_s - 20.04466179) < 1e-9


def test_bare_429_is_no_evidence():
    hit = parse_quota_hit(
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
            }
        }
    )
    assert hit.is_bare and hit.retry_delay_s is None


def test_image_quota_and_delay_formats():
    body = {
        "error": {
            "details": [
                {
                    "@type": "x.QuotaFailure",
                    "violations": [{"quotaId": "GenerateImagesPerMinutePerProjectPerModel", "quotaValue": "0"}],
                }
            ]
        }
    }
    (violation,) = parse_quota_hit(body).violations
    assert violation.dimension == "ipm" and violation.limit == 0
    assert parse_delay("3s") == 3.0
    assert parse_delay({"seconds": 2, "nanos": 500_000_000}) == 2.5
    assert parse_delay("soon") is None
