"""`check_profile` with the real client factory and classifier (emulator), and with failing doubles."""

from __future__ import annotations

from gemtui.auth import ResolvedProfile, check_profile
from gemtui.exitcodes import EXIT_AUTH, EXIT_ERROR, for_failure
from gemtui.gemini.client import make_client
from gemtui.gemini.errors import classify

KEY = "AIzaSyCHECK-0123456789abcdefghijklmn"


def _profile(key: str, endpoint: str | None) -> ResolvedProfile:
    return ResolvedProfile(
        name="p", api_key=key, endpoint=endpoint, api_version=None, tier="free", project="p", source="flag"
    )


def test_good_key_reports_what_answered(emulator):
    profile = _profile("demo-key", emulator.base_url)
    result = check_profile(profile, make_client=make_client, classify=classify)
    assert result.ok and result.kind is None
    assert "gemini-2.5-flash is available" in result.message and "input limit" in result.message


def test_bad_key_is_classified(emulator):
    result = check_profile(_profile(KEY, emulator.base_url), make_client=make_client, classify=classify)
    assert not result.ok and result.kind == "auth" and for_failure(result.kind) == EXIT_AUTH
    assert KEY not in result.message and "AIza…klmn" in result.message and "\n" not in result.message


def test_no_generate_quota_is_spent(emulator):
    assert emulator.counters() == {}
    check_profile(_profile("demo-key", emulator.base_url), make_client=make_client, classify=classify)
    assert emulator.counters() == {}  # a model lookup, not a request the quota counts


def test_a_broken_classifier_still_gives_one_line():
    def make(**kwargs):
        raise RuntimeError(f"boom with {kwargs['api_key']}\nsecond line")

    def bad_classify(exc, **kwargs):
        raise TypeError("classifier bug")

    result = check_profile(_profile(KEY, None), make_client=make, classify=bad_classify)
    assert not result.ok and result.kind == "unknown" and for_failure(result.kind) == EXIT_ERROR
    assert KEY not in result.message and "\n" not in result.message
