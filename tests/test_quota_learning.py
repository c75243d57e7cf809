"""What 429s teach: delays, per-day blocks, learned limits, tier correction, invisible usage, backoff."""

from __future__ import annotations

import pytest

from gemtui.quota import QuotaEngine, QuotaHit, RequestCost, Violation
from gemtui.quota.backoff import BARE_429, TRANSIENT
from gemtui.quota.breaker import BreakerPolicy
from gemtui.quota.ghost import FORGET_WINDOWS, HOLD_GROWTH, REPEAT_HOLD_WINDOWS
from gemtui.quota.limits import LimitTable
from tests.clocks import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z = 16:00 Pacific
MIDNIGHT = T0 + 8 * 3600  # next Pacific midnight
NO_BREAKER = BreakerPolicy(min_requests=1000)  # backoff alone (an opening circuit routes again at once)


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "ledger.sqlite3"


def make(path, clock, tier="free", overrides=None, **kw) -> QuotaEngine:
    return QuotaEngine(clock=clock, tier=tier, table=LimitTable(overrides), ledger_path=path, random=lambda: 0.5, **kw)


def hit(dimension, limit=None, delay=None, free_tier=True):
    return QuotaHit((Violation(dimension, limit=limit, free_tier=free_tier),), retry_delay_s=delay)


def quota_state(engine, model="pro"):
    g = engine.gauges("p", [model])
    gauges = {
        m: {d: (x.limit, x.blocked_until, x.source, x.invisible) for d, x in dims.items()} for m, dims in g.items()
    }
    return engine.tier, engine.limits("p", model), gauges


def test_per_minute_delay_is_honoured_exactly(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro", RequestCost(100))
    verdict = engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=26.5), a.reservation_id)
    assert verdict.retry and verdict.dimension == "rpm"
    assert verdict.not_before == T0 + 26.5
    clock.t = T0 + 26.499
    refused = engine.check("p", "pro", RequestCost(100))
    assert (refused.granted, refused.dimension, refused.eta) == (False, "blocked", T0 + 26.5)
    clock.t = T0 + 26.5
    assert engine.try_reserve("p", "pro", RequestCost(100)).granted
    blocked = engine.gauges("p", ["pro"])["gemini-2.5-pro"]["rpm"].blocked_until
    assert blocked is None


def test_rate_limited_reservation_is_released(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro", RequestCost(100))
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=1), a.reservation_id)
    assert engine.gauges("p", ["pro"])["gemini-2.5-pro"]["rpd"].used == 0


def test_per_day_hit_blocks_until_pacific_midnight_across_instances(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro")
    verdict = engine.on_rate_limited("p", "pro", hit("rpd", 100, delay=30), a.reservation_id)
    assert (verdict.retry, verdict.not_before, verdict.dimension) == (False, MIDNIGHT, "rpd")
    engine.close()

    restarted = make(path, clock)
    refused = restarted.check("p", "pro")
    assert (refused.granted, refused.impossible, refused.dimension) == (False, True, "blocked")
    assert refused.eta == MIDNIGHT and "daily quota" in refused.reason
    assert restarted.check("p", "flash").granted  # other models are unaffected
    g = restarted.gauges("p", ["pro"])["gemini-2.5-pro"]["rpd"]
    assert g.blocked_until == MIDNIGHT and g.invisible == 100  # nobody here sent any of today's 100
    clock.t = MIDNIGHT - 0.001
    assert not restarted.try_reserve("p", "pro").granted
    clock.t = MIDNIGHT
    assert restarted.try_reserve("p", "pro").granted


def test_input_tokens_per_day_hit_blocks_the_model(path, clock):
    engine = make(path, clock)
    verdict = engine.on_rate_limited("p", "flash", hit("tpd"))
    assert not verdict.retry and verdict.not_before == MIDNIGHT
    assert engine.check("p", "flash").dimension == "blocked"


def test_learned_limit_is_persisted_and_beats_table_and_config(path, clock):
    engine = make(path, clock)
    for _ in range(3):
        engine.try_reserve("p", "pro")
    clock.advance(5)
    a = engine.try_reserve("p", "pro")
    verdict = engine.on_rate_limited("p", "pro", hit("rpm", 3), a.reservation_id)
    assert verdict.retry and verdict.not_before == T0 + 60  # our oldest leaves the window
    limits = engine.limits("p", "pro")
    assert (limits.rpm, limits.source["rpm"]) == (3, "learned")
    engine.close()

    configured = make(path, clock, overrides={"pro": {"rpm": 7}})
    limits = configured.limits("p", "pro")
    assert (limits.rpm, limits.source["rpm"]) == (3, "learned")
    assert configured.gauges_json("x", "p", ["pro"])["models"]["gemini-2.5-pro"]["rpm"]["source"] == "learned"
    refused = configured.check("p", "pro")
    assert (refused.dimension, refused.eta) == ("rpm", T0 + 60)


def test_free_tier_violation_corrects_a_paid_tier(path, clock):
    engine = make(path, clock, tier="tier1")
    assert engine.limits("p", "pro").rpm == 150
    a = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=10, free_tier=True), a.reservation_id)
    assert engine.tier == "free"
    limits = engine.limits("p", "pro")
    assert (limits.tier, limits.tpm, limits.rpd) == ("free", 250_000, 100)
    assert limits.rpm == 1  # and we had 0 of 5 in the window: invisible usage lowered it
    engine.close()
    assert make(path, clock, tier="tier1").tier_for("p") == "free"  # persisted
    assert make(path, clock, tier="tier2").tier_for("p") == "tier2"  # the user changed tier: start over
    assert make(path, clock, tier="tier1").tier_for("other") == "tier1"  # per project


def test_paid_violation_keeps_a_paid_tier(path, clock):
    engine = make(path, clock, tier="tier1")
    engine.on_rate_limited("p", "pro", hit("rpm", 150, delay=1, free_tier=False))
    assert engine.tier == "tier1"


def test_invisible_usage_lowers_then_recovers_after_clean_windows(path, clock):
    engine = make(path, clock)  # flash free: RPM 15; climbs 1 (a probe), then ceil(15/5) = 3 per window
    for _ in range(4):
        engine.commit(engine.try_reserve("p", "flash").reservation_id)
    clock.advance(10)
    a = engine.try_reserve("p", "flash")
    hit_at = clock.now()
    verdict = engine.on_rate_limited("p", "flash", hit("rpm", 15, delay=5), a.reservation_id)
    # The server's window held our 4 and 11 of someone else's: our share is 4 a minute from now on,
    # so the refused request goes when our four oldest leave the window (never before the server's delay).
    assert verdict.retry and verdict.not_before == T0 + 60
    assert "invisible" in verdict.reason

    g = engine.gauges("p", ["flash"])["gemini-2.5-flash"]["rpm"]
    assert (g.used, g.limit, g.invisible, g.source) == (4, 4, 11, "learned")
    clock.t = T0 + 60 - 0.001
    assert not engine.check("p", "flash").granted
    clock.t = T0 + 60
    assert all(engine.try_reserve("p", "flash").granted for _ in range(4))
    refused = engine.check("p", "flash")
    assert refused.dimension == "rpm" and "lowered from 15" in refused.reason

    # A first surprise is not held: the limit climbs one step each clean window from the hit on.
    clock.t = hit_at + 60 - 0.001
    assert engine.limits("p", "flash").rpm == 4
    clock.t = hit_at + 60
    assert engine.limits("p", "flash").rpm == 5, "the first climb probes with one more request"
    clock.t = hit_at + 2 * 60
    assert engine.limits("p", "flash").rpm == 8
    engine.on_success("p", "flash")
    assert engine.limits("p", "flash").source["rpm"] == "learned"  # still climbing: kept
    clock.t = hit_at + 5 * 60  # 4 + 1 + 3 * 4 >= 15
    engine.on_success("p", "flash")
    limits = engine.limits("p", "flash")
    assert (limits.rpm, limits.source["rpm"]) == (15, "table")
    assert engine.gauges("p", ["flash"])["gemini-2.5-flash"]["rpm"].invisible == 0


def test_invisible_usage_counts_only_what_the_server_window_held(path, clock):
    """Our requests from before the server's window say nothing about the other clients' share."""
    engine = make(path, clock)  # pro free: RPM 5
    for _ in range(3):
        engine.commit(engine.try_reserve("p", "pro").reservation_id)
    clock.advance(50)  # the server's fixed minute turned over at T0 + 40 (delay below says so)
    a = engine.try_reserve("p", "pro")
    verdict = engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=50), a.reservation_id)
    assert verdict.retry
    limits = engine.limits("p", "pro")
    assert limits.rpm == 1, "the server's window held none of ours: the other client holds four"


def test_invisible_usage_lowering_is_seen_by_another_instance(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro", RequestCost(1_000))
    engine.on_rate_limited("p", "pro", hit("tpm", 250_000, delay=20), a.reservation_id)
    other = make(path, clock)
    limits = other.limits("p", "pro")
    assert (limits.tpm, limits.source["tpm"]) == (1_000, "learned")
    assert other.gauges("p", ["pro"])["gemini-2.5-pro"]["tpm"].invisible == 249_000


def test_invisible_hit_without_delay_waits_for_the_window(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro")
    verdict = engine.on_rate_limited("p", "pro", hit("rpm", 5), a.reservation_id)
    assert verdict.retry and verdict.not_before == T0 + 60


def test_bare_429_backs_off_and_changes_no_quota_state(path, clock):
    engine = make(path, clock, tier="tier1", breaker_policy=NO_BREAKER)
    engine.try_reserve("p", "pro")
    before = quota_state(engine)
    a = engine.try_reserve("p", "pro")
    first = engine.on_rate_limited("p", "pro", QuotaHit(), a.reservation_id)
    second = engine.on_rate_limited("p", "pro", QuotaHit())
    assert first.retry and second.retry and first.dimension is None
    assert first.not_before == T0 + 0.5 * 2.0 and second.not_before == T0 + 0.5 * 4.0
    assert quota_state(engine) == before
    assert engine.check("p", "pro").granted
    engine.on_success("p", "pro")
    assert engine.on_rate_limited("p", "pro", QuotaHit()).not_before == T0 + 1.0  # backoff restarted


def test_backoff_full_jitter_bounds():
    assert [BARE_429.ceiling(n) for n in (1, 2, 3, 5, 6, 50)] == [2, 4, 8, 32, 60, 60]
    assert [TRANSIENT.ceiling(n) for n in (1, 2, 5, 6, 100)] == [1, 2, 16, 30, 30]
    assert TRANSIENT.delay(3, lambda: 0.0) == 0.0
    assert TRANSIENT.delay(3, lambda: 0.999) == pytest.approx(3.996)
    assert not TRANSIENT.exhausted(4) and TRANSIENT.exhausted(5)


def test_transient_failures_are_bounded(path, clock):
    engine = make(path, clock, breaker_policy=NO_BREAKER)
    before = quota_state(engine)
    delays = []
    for attempt in range(1, 5):
        verdict = engine.on_transient_failure("p", "pro", attempt)
        assert verdict.retry
        delays.append(verdict.not_before - T0)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    final = engine.on_transient_failure("p", "pro", 5)
    assert not final.retry and "giving up" in final.reason
    assert quota_state(engine) == before


def test_combined_minute_and_day_violations_block_for_the_day(path, clock):
    engine = make(path, clock)
    both = QuotaHit((Violation("rpm", 5, True), Violation("rpd", 100, True)), retry_delay_s=30)
    verdict = engine.on_rate_limited("p", "pro", both)
    assert not verdict.retry and verdict.not_before == MIDNIGHT


def test_refused_request_cost_comes_from_an_already_released_reservation(path, clock):
    engine = make(path, clock)
    a = engine.try_reserve("p", "pro", RequestCost(100_000))
    engine.release(a.reservation_id)  # the caller released it first: the id still tells the cost
    verdict = engine.on_rate_limited("p", "pro", hit("tpm", 250_000, delay=20), a.reservation_id)
    assert verdict.not_before == T0 + 20
    assert engine.limits("p", "pro").tpm == 100_000
    clock.t = T0 + 20
    assert engine.try_reserve("p", "pro", RequestCost(100_000)).granted  # the retry fits after the delay


def test_refused_request_cost_can_be_given_directly(path, clock):
    engine = make(path, clock)
    engine.on_rate_limited("p", "pro", hit("tpm", 250_000, delay=20), cost=RequestCost(80_000))
    assert engine.limits("p", "pro").tpm == 80_000


def test_unknown_cost_does_not_lower_token_limits(path, clock):
    engine = make(path, clock)
    verdict = engine.on_rate_limited("p", "pro", hit("tpm", 250_000, delay=20))
    assert verdict.retry and verdict.not_before == T0 + 20
    limits = engine.limits("p", "pro")
    assert (limits.tpm, limits.source["tpm"]) == (250_000, "table")


def test_a_one_off_surprise_recovers_within_minutes(path, clock):
    engine = make(path, clock)  # pro free: RPM 5, one step a window
    first = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), first.reservation_id)
    hit_at = clock.now()
    climb = []
    for windows in range(6):
        clock.t = hit_at + windows * 60
        climb.append(engine.limits("p", "pro").rpm)
    assert climb == [1, 2, 3, 4, 5, 5], "lowered, then one more request a minute: back in four minutes"


def test_a_client_that_stays_holds_longer_each_time(path, clock):
    engine = make(path, clock)  # pro free: RPM 5
    first = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), first.reservation_id)
    assert engine.limits("p", "pro").rpm == 1
    clock.advance(5 * 60)  # climbed back to 5 without a hold
    engine.on_success("p", "pro")
    assert engine.limits("p", "pro").rpm == 5
    again = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), again.reservation_id)  # still there
    hit_at = clock.now()
    clock.t = hit_at + (REPEAT_HOLD_WINDOWS + 1) * 60 - 0.001
    assert engine.limits("p", "pro").rpm == 1, "a repeated surprise holds before probing"
    clock.t = hit_at + (REPEAT_HOLD_WINDOWS + 1) * 60
    assert engine.limits("p", "pro").rpm == 2
    clock.t = hit_at + (REPEAT_HOLD_WINDOWS + 4) * 60
    engine.on_success("p", "pro")
    third = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), third.reservation_id)  # and again
    hit_at = clock.now()
    longer = REPEAT_HOLD_WINDOWS * HOLD_GROWTH
    clock.t = hit_at + (longer + 1) * 60 - 0.001
    assert engine.limits("p", "pro").rpm == 1, "each repeat holds longer"
    clock.t = hit_at + (longer + 1) * 60
    assert engine.limits("p", "pro").rpm == 2


def test_a_surprise_long_after_recovery_is_a_first_one_again(path, clock):
    engine = make(path, clock)
    first = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), first.reservation_id)
    clock.advance((4 + FORGET_WINDOWS) * 60)  # recovered, then clean for half an hour: forgotten
    engine.on_success("p", "pro")
    again = engine.try_reserve("p", "pro")
    engine.on_rate_limited("p", "pro", hit("rpm", 5, delay=30), again.reservation_id)
    clock.advance(60)
    assert engine.limits("p", "pro").rpm == 2, "no hold: the other client had gone, this is a new one"


def test_a_ledger_from_before_strikes_opens_and_keeps_its_lowering(path, clock):
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE adjustments (project TEXT NOT NULL, model TEXT NOT NULL, dimension TEXT NOT NULL,"
            " lowered_to INTEGER NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (project, model, dimension))"
        )
        db.execute("INSERT INTO adjustments VALUES ('p', 'gemini-2.5-pro', 'rpm', 2, ?)", (round(clock.now() * 1000),))
    engine = make(path, clock)
    assert engine.limits("p", "pro").rpm == 2
    assert not engine.warnings


def test_unknown_model_is_admitted_unguessed_then_learns_from_its_first_429(path, clock):
    """A model the table does not know is never paced by another model's row: its limits read
    "unknown" until the server's quotaValue teaches them."""
    engine = make(path, clock)
    for _ in range(8):  # more than Pro's free RPM: nothing borrowed from another model's row
        granted = engine.try_reserve("p", "gemini-3-pro", RequestCost(100))
        assert granted.granted
        engine.commit(granted.reservation_id, 100)
    gauges = engine.gauges_json("default", "p", ["gemini-3-pro"])["models"]["gemini-3-pro"]
    assert {d: (g["limit"], g["source"]) for d, g in gauges.items()} == dict.fromkeys(
        ("rpm", "tpm", "rpd", "ipm"), (None, "unknown")
    )
    refused = engine.try_reserve("p", "gemini-3-pro", RequestCost(100))
    engine.on_rate_limited("p", "gemini-3-pro", hit("rpm", 8, delay=10), refused.reservation_id)
    learned = engine.limits("p", "gemini-3-pro")
    assert (learned.rpm, learned.source["rpm"], learned.source["tpm"]) == (8, "learned", "unknown")
    clock.t = T0 + 61
    assert engine.try_reserve("p", "gemini-3-pro", RequestCost(100)).granted
