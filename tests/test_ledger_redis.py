"""The team ledger on a real redis-server: the same protocol as the sqlite ledger (each shared test runs on
both), then what only a shared server does — leases, the server's clock, other machines' usage, projects
kept apart, many processes reserving at once."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from gemtui.quota import QuotaEngine, QuotaHit, RequestCost, Violation
from gemtui.quota.breaker import BreakerPolicy
from gemtui.quota.ledger import COMMITTED, RELEASED, RESERVED, Adjustment, SqliteLedger, TierCorrection
from gemtui.quota.ledger_redis import RedisLedger, ServerClock
from gemtui.quota.limits import LimitTable
from gemtui.quota.pacific import day_start_ms
from tests.clocks import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z = 16:00 Pacific
MIDNIGHT = T0 + 8 * 3600  # the next Pacific midnight
PRO = "gemini-2.5-pro"
FLASH = "gemini-2.5-flash"


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture(params=["sqlite", "redis"])
def open_ledger(request, tmp_path, clock):
    """open_ledger(owner="a") -> a ledger of the backend under test; several share one store."""
    opened = []

    def build(owner: str = "machine-a", **kwargs):
        if request.param == "sqlite":
            ledger = SqliteLedger(tmp_path / "ledger.sqlite3", clock)
        else:
            client = request.getfixturevalue("redis_client")
            ledger = RedisLedger(_client(client), "p", owner=owner, clock=clock, **kwargs)
        opened.append(ledger)
        return ledger

    yield build
    for ledger in opened:
        ledger.close()


def _client(client):
    """A client of its own on the same server (each machine has one)."""
    import redis

    return redis.Redis(connection_pool=redis.ConnectionPool(**client.connection_pool.connection_kwargs))


def engine_on(ledger, clock, tier="free", **kwargs) -> QuotaEngine:
    return QuotaEngine(ledger, clock=clock, tier=tier, table=LimitTable(), random=lambda: 0.5, **kwargs)


def hit(dimension, limit=None, delay=None, free_tier=True):
    return QuotaHit((Violation(dimension, limit=limit, free_tier=free_tier),), retry_delay_s=delay)


# -- the protocol, on both backends ---------------------------------------------------------------------


def test_rpm_admits_up_to_the_limit_then_waits_for_the_oldest_row(open_ledger, clock):
    engine = engine_on(open_ledger(), clock)
    granted = [engine.try_reserve("p", "pro") for _ in range(5)]
    assert all(a.granted for a in granted)
    refused = engine.try_reserve("p", "pro")
    assert not refused.granted and refused.dimension == "rpm"
    assert refused.eta == pytest.approx(T0 + 60)
    clock.advance(60)
    assert engine.try_reserve("p", "pro").granted


def test_tpm_and_rpd_are_checked_with_the_request(open_ledger, clock):
    engine = engine_on(open_ledger(), clock, tier="free")
    big = RequestCost(input_tokens=200_000)
    assert engine.try_reserve("p", "pro", big).granted
    refused = engine.try_reserve("p", "pro", big)
    assert not refused.granted and refused.dimension == "tpm"
    for _ in range(99):
        clock.advance(61)
        admission = engine.try_reserve("p", "pro")
        assert admission.granted
    refused = engine.try_reserve("p", "flash")
    assert refused.granted  # another model has its own day
    clock.advance(61)
    refused = engine.try_reserve("p", "pro")
    assert not refused.granted and refused.dimension == "rpd" and refused.impossible


def test_release_frees_the_row_and_commit_keeps_real_counts(open_ledger, clock):
    ledger = open_ledger()
    engine = engine_on(ledger, clock)
    first = engine.try_reserve("p", "pro", RequestCost(input_tokens=1000))
    second = engine.try_reserve("p", "pro", RequestCost(input_tokens=1000))
    assert engine.commit(first.reservation_id, input_tokens=1234)
    assert engine.release(second.reservation_id)
    assert ledger.get(first.reservation_id).state == COMMITTED
    assert ledger.get(first.reservation_id).tokens == 1234
    assert ledger.get(second.reservation_id).state == RELEASED
    assert not engine.commit(second.reservation_id)  # released stays released
    gauges = engine.gauges("p", ["pro"])[PRO]
    assert (gauges["rpm"].used, gauges["tpm"].used, gauges["rpd"].used) == (1, 1234, 1)
    assert ledger.get("no-such-id") is None and ledger.release("no-such-id") is None


def test_a_block_waits_and_a_later_block_is_never_shortened(open_ledger, clock):
    ledger = open_ledger()
    engine = engine_on(ledger, clock)
    ledger.set_block("p", PRO, "rpm", round((T0 + 30) * 1000))
    ledger.set_block("p", PRO, "rpm", round((T0 + 10) * 1000))
    refused = engine.try_reserve("p", "pro")
    assert not refused.granted and refused.dimension == "blocked" and refused.eta == pytest.approx(T0 + 30)
    clock.advance(30)
    assert engine.try_reserve("p", "pro").granted


def test_learned_limits_adjustments_and_tier_are_shared(open_ledger, clock):
    one, two = open_ledger("machine-a"), open_ledger("machine-b")
    a, b = engine_on(one, clock, tier="tier1"), engine_on(two, clock, tier="tier1")
    a.on_rate_limited("p", "pro", hit("rpm", limit=5, delay=5.0))
    assert b.tier_for("p") == "free"  # 429 evidence of the free tier, seen by every machine
    assert b.limits("p", "pro").rpm == 1  # refused with nothing of ours in the window: invisible usage
    one.clear_adjustment("p", PRO, "rpm")
    assert b.limits("p", "pro").rpm == 5
    one.set_learned("p", PRO, "rpm", 3, "free", round(T0 * 1000))
    assert b.limits("p", "pro").rpm == 3
    one.set_adjustment("p", PRO, "rpd", Adjustment(40, round(T0 * 1000)))
    assert (
        two.snapshot("p", PRO, now_ms=round(T0 * 1000), window_ms=60_000, day_start_ms=day_start_ms(round(T0 * 1000)))
        .adjustments["rpd"]
        .lowered_to
        == 40
    )
    one.clear_adjustment("p", PRO, "rpd")
    one.set_tier("p", None, round(T0 * 1000))
    assert two.get_tier("p") is None and b.tier_for("p") == "tier1"
    one.set_tier("p", TierCorrection("free", "tier1"), round(T0 * 1000))
    assert two.get_tier("p") == TierCorrection("free", "tier1")


def test_a_learned_lower_limit_holds_back_a_reservation(open_ledger, clock):
    ledger = open_ledger()
    engine = engine_on(ledger, clock)
    ledger.set_learned("p", PRO, "rpm", 2, "free", round(T0 * 1000))
    assert engine.try_reserve("p", "pro").granted and engine.try_reserve("p", "pro").granted
    assert engine.try_reserve("p", "pro").dimension == "rpm"


def test_the_circuit_breaker_is_stored_and_a_released_probe_is_handed_back(open_ledger, clock):
    ledger = open_ledger()
    policy = BreakerPolicy(min_requests=2, cooling_s=10)
    engine = engine_on(ledger, clock, breaker_policy=policy)
    engine.on_transient_failure("p", "pro", 1)
    engine.on_transient_failure("p", "pro", 1)
    assert engine.circuits(["pro"])[PRO].state == "open"
    refused = engine.try_reserve("p", "pro")
    assert not refused.granted and refused.dimension == "circuit"
    clock.advance(11)
    probe = engine.try_reserve("p", "pro")
    assert probe.granted
    assert (
        ledger.circuit(engine.endpoint, PRO, now_ms=round(clock.now() * 1000), window_ms=policy.window_ms).probe_id
        == probe.reservation_id
    )
    assert not engine.try_reserve("p", "pro").granted  # one probe at a time
    engine.release(probe.reservation_id)
    assert (
        ledger.circuit(engine.endpoint, PRO, now_ms=round(clock.now() * 1000), window_ms=policy.window_ms).probe_id
        is None
    )
    again = engine.try_reserve("p", "pro")
    assert again.granted
    engine.commit(again.reservation_id)
    engine.on_success("p", "pro")
    assert engine.circuits(["pro"])[PRO].state == "closed"


def test_usage_history_by_pacific_day(open_ledger, clock):
    engine = engine_on(open_ledger(), clock)
    for _ in range(3):
        engine.commit(engine.try_reserve("p", "flash", RequestCost(input_tokens=10)).reservation_id)
        clock.advance(61)
    clock.t = MIDNIGHT + 60
    engine.commit(engine.try_reserve("p", "flash", RequestCost(input_tokens=7)).reservation_id)
    days = engine.usage_history("p", "flash", days=3)
    assert [(d.requests, d.tokens) for d in days] == [(0, 0), (3, 30), (1, 7)]
    assert sum(r for r, _ in engine.usage_today("p", "flash")) == 1


def test_two_machines_share_one_window(open_ledger, clock):
    a = engine_on(open_ledger("machine-a"), clock)
    b = engine_on(open_ledger("machine-b"), clock)
    for engine in (a, b, a, b, a):
        assert engine.try_reserve("p", "pro").granted
    assert not a.try_reserve("p", "pro").granted
    assert not b.try_reserve("p", "pro").granted


# -- only a shared server -------------------------------------------------------------------------------


@pytest.fixture
def team(redis_client, clock):
    def build(owner: str, project: str = "p", **kwargs) -> RedisLedger:
        return RedisLedger(_client(redis_client), project, owner=owner, clock=clock, **kwargs)

    return build


def test_gauges_show_other_machines_as_team_usage(team, clock):
    a, b = engine_on(team("machine-a"), clock), engine_on(team("machine-b"), clock)
    a.try_reserve("p", "pro", RequestCost(input_tokens=100))
    b.try_reserve("p", "pro", RequestCost(input_tokens=300))
    b.try_reserve("p", "pro", RequestCost(input_tokens=300))
    mine = a.gauges("p", ["pro"])[PRO]
    assert (mine["rpm"].used, mine["rpm"].team) == (3, 2)
    assert (mine["tpm"].used, mine["tpm"].team) == (700, 600)
    assert (mine["rpd"].used, mine["rpd"].team) == (3, 2)
    assert a.gauges_json("x", "p", ["pro"])["models"][PRO]["rpm"]["team"] == 2


def test_an_expired_lease_counts_the_request_as_sent(team, clock):
    ledger = team("machine-a", lease_ms=30_000)
    engine = engine_on(ledger, clock)
    rid = engine.try_reserve("p", "pro").reservation_id
    clock.advance(31)
    assert ledger.get(rid).state == COMMITTED
    assert engine.release(rid)  # the late release is answered, but nothing is handed back
    assert ledger.get(rid).state == COMMITTED
    assert engine.gauges("p", ["pro"])[PRO]["rpm"].used == 1
    assert engine.gauges("p", ["pro"])[PRO]["rpd"].used == 1
    clock.advance(30)
    assert engine.gauges("p", ["pro"])[PRO]["rpm"].used == 0  # it left the window like any request
    assert engine.gauges("p", ["pro"])[PRO]["rpd"].used == 1
    assert engine.usage_history("p", "pro", days=1)[0].requests == 1


def test_a_reservation_within_its_lease_is_released(team, clock):
    ledger = team("machine-a", lease_ms=30_000)
    engine = engine_on(ledger, clock)
    rid = engine.try_reserve("p", "pro").reservation_id
    assert ledger.get(rid).state == RESERVED
    clock.advance(29)
    assert engine.release(rid)
    assert engine.gauges("p", ["pro"])[PRO]["rpd"].used == 0
    assert engine.usage_history("p", "pro", days=1)[0].requests == 0


def test_projects_keep_apart_under_their_own_key_prefix(team, clock, redis_client):
    one = engine_on(team("machine-a", "team-one"), clock)
    two = engine_on(team("machine-a", "team-two"), clock)
    for _ in range(5):
        assert one.try_reserve("team-one", "pro").granted
    assert two.try_reserve("team-two", "pro").granted
    keys = redis_client.keys("*")
    assert keys and all(k.startswith(("gemtui:{team-one}:", "gemtui:{team-two}:")) for k in keys)


def test_server_time_stamps_rows_whatever_the_local_clock(redis_client):
    skewed = FakeClock(time.time() - 3600)  # an hour behind: its rows would be booked in the past
    ledger = RedisLedger(_client(redis_client), "p", owner="m")
    engine = QuotaEngine(ledger, clock=ledger.clock, tier="free")
    rid = engine.try_reserve("p", "pro").reservation_id
    seconds, micros = redis_client.time()
    assert abs(ledger.get(rid).ts_ms / 1000 - (seconds + micros / 1e6)) < 2
    assert abs(ServerClock(redis_client).now() - time.time()) < 2
    assert skewed.now() < ledger.get(rid).ts_ms / 1000 - 3000


def test_old_rows_are_pruned_but_their_day_stays_in_history(team, clock):
    ledger = team("machine-a")
    engine = engine_on(ledger, clock)
    engine.commit(engine.try_reserve("p", "flash", RequestCost(input_tokens=5)).reservation_id)
    clock.t = MIDNIGHT + 2 * 86400 + 60
    assert ledger.prune("p", round(clock.now() * 1000)) == 1
    days = engine.usage_history("p", "flash", days=4)
    assert [d.requests for d in days] == [1, 0, 0, 0]


def _hammer(port: int, owner: str, start, results) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    ledger = RedisLedger(client, "p", owner=owner)
    engine = QuotaEngine(ledger, clock=ledger.clock, tier="free")
    start.wait()
    results.put(sum(engine.try_reserve("p", "flash").granted for _ in range(25)))


def test_processes_on_one_redis_never_over_admit(redis_server, redis_client):
    """4 processes race for flash's 15 RPM at the server's time: exactly 15 reservations, whatever the
    interleaving (the end-to-end test runs 8 machines through the whole sender)."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(redis_server.port, f"m{n}", start, results)) for n in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    granted = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(10)
    assert granted == 15
