"""The batch ETA: when a line of requests will have been admitted, quota waits included."""

from __future__ import annotations

import math

import pytest

from gemtui.quota.engine import QuotaEngine, RequestCost
from gemtui.quota.forecast import Lane, admission_times
from gemtui.quota.limits import FLASH, LITE, PRO
from tests.clocks import FakeClock

NOW = 1_767_225_600.0 + 12 * 3600  # noon UTC: Pacific midnight is hours away


def test_a_forced_model_goes_at_the_pace_its_rpm_allows():
    """65 prompts at 5 RPM: five now, then five a minute — the last goes 12 minutes in, not at once."""
    times = admission_times([Lane(PRO, 5, 60.0)], 65, NOW)
    offsets = [t - NOW for t, _ in times]
    assert offsets[:5] == [0.0] * 5
    assert offsets[5:10] == [60.0] * 5
    assert offsets[-1] == 12 * 60


def test_requests_already_in_the_window_are_waited_for():
    starts = [NOW - 50, NOW - 40, NOW - 30, NOW - 20, NOW - 10]  # RPM 5 full: frees 10 s from now
    times = admission_times([Lane(PRO, 5, 60.0, starts)], 6, NOW)
    assert [t - NOW for t, _ in times] == [10.0, 20.0, 30.0, 40.0, 50.0, 70.0]


def test_tokens_per_minute_and_the_day_limit_slow_the_line_too():
    # TPM 250k at 100k tokens a request: 2 a window, whatever RPM says (the engine's lane does this).
    engine = QuotaEngine(clock=FakeClock(NOW), ledger_path=None, tier="free")
    lane = engine.lane("p", PRO, RequestCost(input_tokens=100_000))
    assert lane.per_window == 2 and lane.day_left == 100
    engine.close()
    # Two left today: then nothing until Pacific midnight.
    midnight = NOW + 3600
    times = admission_times([Lane(PRO, 5, 60.0, day_left=2, day_end=midnight, day_limit=100)], 3, NOW)
    assert [t for t, _ in times] == [NOW, NOW, midnight]


def test_auto_routes_as_the_router_would_and_adds_up_the_models():
    lanes = [Lane(PRO, 5, 60.0), Lane(FLASH, 15, 60.0), Lane(LITE, 15, 60.0)]
    times = admission_times(lanes, 40, NOW)
    models = [m for _, m in times]
    assert models[:5] == [PRO] * 5 and models[5:20] == [FLASH] * 15 and models[20:35] == [LITE] * 15
    assert times[34][0] == NOW, "35 go at once"
    assert models[35:] == [PRO] * 5 and times[35][0] == NOW + 60  # then Pro, free first
    # Under `wait` the preferred model is waited for.
    waited = admission_times([Lane(PRO, 5, 60.0), Lane(FLASH, 15, 60.0)], 6, NOW, policy="wait")
    assert [m for _, m in waited] == [PRO] * 6


def test_a_short_wait_for_the_preferred_model_is_taken_rather_than_switching():
    starts = [NOW - 55] * 5  # Pro frees in 5 s: within the 20 s threshold
    times = admission_times([Lane(PRO, 5, 60.0, starts), Lane(FLASH, 15, 60.0)], 1, NOW)
    assert times == [(NOW + 5, PRO)]


def test_answers_in_flight_hold_the_concurrency_slots():
    times = admission_times([Lane(FLASH, None, 60.0)], 3, NOW, concurrency=2, answer_s=10.0, in_flight=[NOW + 4.0])
    assert [t - NOW for t, _ in times] == [0.0, 4.0, 10.0]


def test_a_model_that_admits_nothing_never_finishes():
    times = admission_times([Lane("gemini-x", 0, 60.0)], 2, NOW)
    assert all(math.isinf(t) for t, _ in times)


@pytest.mark.parametrize("filled, minutes", [(0, 12), (5, 13)])
def test_the_engine_lane_counts_its_window(tmp_path, filled, minutes):
    clock = FakeClock(NOW)
    engine = QuotaEngine(clock=clock, ledger_path=tmp_path / "ledger.sqlite3", tier="free")
    for _ in range(filled):
        admission = engine.try_reserve("p", PRO, RequestCost(input_tokens=10))
        engine.commit(admission.reservation_id, input_tokens=10)
    lane = engine.lane("p", PRO, RequestCost(input_tokens=10))
    assert lane.per_window == 5 and len(lane.starts) == filled and lane.day_left == 100 - filled
    times = admission_times([lane], 65, NOW)
    assert times[-1][0] - NOW == minutes * 60
    engine.close()
