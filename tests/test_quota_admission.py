"""Admission: rolling windows, exact ETAs (max over dimensions), reconciliation and impossible requests."""

from __future__ import annotations

import math

import pytest

from gemtui.quota import QuotaEngine, RequestCost
from gemtui.quota.limits import LimitTable
from tests.clocks import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z (16:00 Pacific, the day before)


@pytest.fixture
def clock():
    return FakeClock(T0)


def make(tmp_path, clock, overrides=None, **kw) -> QuotaEngine:
    path = tmp_path / "ledger.sqlite3"
    return QuotaEngine(clock=clock, table=LimitTable(overrides), ledger_path=path, **kw)


def assert_eta_exact(engine, clock, eta, model="pro", cost=None):
    """One millisecond before the ETA: refused; at the ETA: admitted."""
    clock.t = eta - 0.001
    assert not engine.check("p", model, cost).granted
    clock.t = eta
    assert engine.try_reserve("p", model, cost).granted


def test_entries_leave_the_window_exactly_at_plus_60s(tmp_path, clock):
    engine = make(tmp_path, clock)
    engine.try_reserve("p", "pro", RequestCost(1_000))
    clock.advance(59.999)
    g = engine.gauges("p", ["pro"])["gemini-2.5-pro"]
    assert (g["rpm"].used, g["tpm"].used, g["rpd"].used) == (1, 1_000, 1)
    assert g["rpm"].resets_at == T0 + 60
    clock.t = T0 + 60
    g = engine.gauges("p", ["pro"])["gemini-2.5-pro"]
    assert (g["rpm"].used, g["tpm"].used, g["rpd"].used) == (0, 0, 1)


def test_window_length_is_a_parameter(tmp_path, clock):
    engine = make(tmp_path, clock, window_s=10)
    for _ in range(5):
        assert engine.try_reserve("p", "pro").granted
    refused = engine.try_reserve("p", "pro")
    assert refused.eta == T0 + 10
    assert_eta_exact(engine, clock, refused.eta)


def test_rpm_eta_is_exact(tmp_path, clock):
    engine = make(tmp_path, clock)
    for _ in range(5):
        assert engine.try_reserve("p", "pro").granted
        clock.advance(1)
    refused = engine.try_reserve("p", "pro")
    assert (refused.granted, refused.dimension, refused.impossible) == (False, "rpm", False)
    assert refused.reservation_id is None
    assert refused.eta == T0 + 60 and refused.wait_s == pytest.approx(55)
    assert "gemini-2.5-pro" in refused.reason and "RPM 5/5" in refused.reason
    assert_eta_exact(engine, clock, refused.eta)
    # The second-oldest leaves one second later, and so on: each ETA is the next expiry.
    again = engine.try_reserve("p", "pro")
    assert again.eta == T0 + 61
    assert_eta_exact(engine, clock, again.eta)


def test_tpm_eta_is_exact(tmp_path, clock):
    engine = make(tmp_path, clock)
    assert engine.try_reserve("p", "pro", RequestCost(100_000)).granted
    clock.advance(10)
    assert engine.try_reserve("p", "pro", RequestCost(100_000)).granted
    clock.advance(10)
    refused = engine.try_reserve("p", "pro", RequestCost(100_000))
    assert (refused.dimension, refused.eta) == ("tpm", T0 + 60)
    # A request needing both old rows gone waits for the second one.
    assert engine.check("p", "pro", RequestCost(200_000)).eta == T0 + 70
    assert_eta_exact(engine, clock, refused.eta, cost=RequestCost(100_000))


def test_rpd_eta_is_exact_and_flagged_for_today(tmp_path, clock):
    engine = make(tmp_path, clock, {"pro": {"rpm": "unlimited", "rpd": 3}})
    for _ in range(3):
        assert engine.try_reserve("p", "pro").granted
    refused = engine.try_reserve("p", "pro")
    assert (refused.dimension, refused.impossible) == ("rpd", True)
    assert refused.eta == T0 + 8 * 3600  # 16:00 PST -> midnight PST = 08:00Z
    assert "RPD 3/3" in refused.reason
    assert_eta_exact(engine, clock, refused.eta)


def test_eta_is_the_max_over_dimensions(tmp_path, clock):
    engine = make(tmp_path, clock, {"pro": {"rpm": 2, "tpm": 1_000}})
    assert engine.try_reserve("p", "pro", RequestCost(900)).granted
    clock.advance(30)
    assert engine.try_reserve("p", "pro", RequestCost(50)).granted
    # RPM frees at +60; 960 tokens only fit once the 50-token row leaves too, at +90.
    big = engine.check("p", "pro", RequestCost(960))
    assert (big.dimension, big.eta) == ("tpm", T0 + 90)
    small = engine.check("p", "pro", RequestCost(10))
    assert (small.dimension, small.eta) == ("rpm", T0 + 60)
    assert_eta_exact(engine, clock, big.eta, cost=RequestCost(960))


def test_check_reserves_nothing(tmp_path, clock):
    engine = make(tmp_path, clock)
    for _ in range(10):
        assert engine.check("p", "pro").granted
    assert engine.gauges("p", ["pro"])["gemini-2.5-pro"]["rpm"].used == 0


def test_commit_reconciles_and_release_frees(tmp_path, clock):
    engine = make(tmp_path, clock)
    a = engine.try_reserve("p", "pro", RequestCost(200_000))
    assert not engine.check("p", "pro", RequestCost(100_000)).granted
    assert engine.commit(a.reservation_id, input_tokens=20_000)
    g = engine.gauges("p", ["pro"])["gemini-2.5-pro"]
    assert (g["rpm"].used, g["tpm"].used) == (1, 20_000)
    assert engine.check("p", "pro", RequestCost(230_000)).granted
    b = engine.try_reserve("p", "pro", RequestCost(1_000))
    assert engine.release(b.reservation_id)
    g = engine.gauges("p", ["pro"])["gemini-2.5-pro"]
    assert (g["rpm"].used, g["tpm"].used, g["rpd"].used) == (1, 20_000, 1)
    assert not engine.commit(b.reservation_id, input_tokens=5)  # a released row stays released


def test_reservations_of_a_dead_process_count_until_they_age_out(tmp_path, clock):
    dead = make(tmp_path, clock)
    for _ in range(5):
        dead.try_reserve("p", "pro", RequestCost(1_000))
    dead.close()  # never committed nor released
    alive = make(tmp_path, clock)
    refused = alive.try_reserve("p", "pro")
    assert (refused.granted, refused.eta) == (False, T0 + 60)
    clock.t = T0 + 60
    assert alive.try_reserve("p", "pro").granted


def test_scopes_are_independent(tmp_path, clock):
    engine = make(tmp_path, clock)
    for _ in range(5):
        engine.try_reserve("p", "pro")
    assert not engine.check("p", "pro").granted
    assert engine.check("p", "flash").granted
    assert engine.check("other-project", "pro").granted


def test_impossible_requests_name_the_limit(tmp_path, clock):
    engine = make(tmp_path, clock, {"lite": {"rpd": 0}})
    too_big = engine.try_reserve("p", "pro", RequestCost(250_001))
    assert (too_big.granted, too_big.impossible, too_big.dimension) == (False, True, "tpm")
    assert math.isinf(too_big.eta) and "TPM 250,000" in too_big.reason
    assert engine.check("p", "pro", RequestCost(250_000)).granted  # exactly the limit fits
    images = engine.check("p", "gemini-2.5-flash-image", RequestCost(10, images=1))
    assert (images.impossible, images.dimension) == (True, "ipm") and "IPM 0" in images.reason
    no_day = engine.check("p", "lite")
    assert (no_day.impossible, no_day.dimension) == (True, "rpd")


def test_ipm_on_a_paid_image_model(tmp_path, clock):
    engine = QuotaEngine(clock=clock, tier="tier1", ledger_path=tmp_path / "ledger.sqlite3")
    model = "gemini-2.5-flash-image"
    assert engine.check("p", model, RequestCost(10, images=11)).impossible
    assert engine.try_reserve("p", model, RequestCost(10, images=6)).granted
    clock.advance(5)
    refused = engine.try_reserve("p", model, RequestCost(10, images=5))
    assert (refused.dimension, refused.eta) == ("ipm", T0 + 60)
    assert engine.check("p", model, RequestCost(10)).granted  # text-only requests ignore IPM
    assert_eta_exact(engine, clock, refused.eta, model=model, cost=RequestCost(10, images=5))
