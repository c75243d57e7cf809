"""The circuit breaker per endpoint and model: when it opens, how long it cools, the single half-open probe,
sharing through the ledger, the schema step that adds it, its `[breaker]` settings and how it is reported."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from gemtui.commands._quota_table import format_circuits
from gemtui.config import ConfigError, load_config
from gemtui.quota import QuotaEngine, QuotaHit, RequestCost, Violation
from gemtui.quota.breaker import BreakerPolicy
from gemtui.quota.ledger import _SCHEMA, LEDGER_VERSION, MIGRATIONS
from gemtui.quota.limits import resolve_model
from tests.clocks import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z
PRO = "gemini-2.5-pro"
FLASH = "gemini-2.5-flash"


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def make(tmp_path, clock):
    engines: list[QuotaEngine] = []

    def build(**kwargs) -> QuotaEngine:
        kwargs.setdefault("tier", "tier1")
        engine = QuotaEngine(clock=clock, ledger_path=tmp_path / "ledger.sqlite3", **kwargs)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


def send(engine: QuotaEngine, model: str = "pro", *, ok: bool) -> None:
    """One request through admission that ends in success or a server failure, as the sender books it."""
    granted = engine.try_reserve("p", model, RequestCost(10))
    assert granted.granted, granted.reason
    if ok:
        engine.commit(granted.reservation_id, 10)
        engine.on_success("p", model)
    else:
        engine.release(granted.reservation_id)
        engine.on_transient_failure("p", model, 1)


def state(engine: QuotaEngine, model: str = "pro") -> str:
    return engine.circuits([model])[resolve_model(model)].state


def test_opens_at_half_failures_of_four_requests(make, clock):
    engine = make()
    send(engine, ok=True)
    send(engine, ok=True)
    send(engine, ok=False)
    assert state(engine) == "closed", "1 failure of 3: below the minimum of 4 requests"
    send(engine, ok=False)  # 2 of 4 = 50 %
    circuit = engine.circuits(["pro"])[PRO]
    assert circuit.state == "open"
    assert (circuit.opened_at, circuit.probe_at) == (T0, T0 + 30)
    admission = engine.try_reserve("p", "pro", RequestCost(10))
    assert not admission.granted and admission.reservation_id is None
    assert admission.dimension == "circuit" and not admission.impossible
    assert admission.eta == T0 + 30 and admission.wait_s == 30
    assert "circuit open — probing at" in admission.reason
    assert engine.check("p", "pro").dimension == "circuit"
    assert engine.try_reserve("p", "flash").granted, "the breaker is per model"
    assert engine.gauges("p", ["pro"])[PRO]["rpm"].used == 2, "a refusal reserves nothing"


def test_only_a_failure_opens_it(make):
    engine = make()
    for _ in range(3):
        send(engine, ok=False)
    send(engine, ok=True)  # 3 failures of 4, but the server just answered
    assert state(engine) == "closed"
    send(engine, ok=False)
    assert state(engine) == "open"


def test_three_failures_of_three_stay_closed_below_the_minimum(make):
    engine = make()
    for _ in range(3):
        send(engine, ok=False)
    assert state(engine) == "closed"
    send(engine, ok=False)
    assert state(engine) == "open"


def test_outcomes_leave_the_window(make, clock):
    engine = make(breaker_policy=BreakerPolicy(window_s=60))
    send(engine, ok=False)
    send(engine, ok=False)
    send(engine, ok=False)
    clock.advance(61)  # those three left the window: the fourth is 1 of 1
    send(engine, ok=False)
    assert state(engine) == "closed"
    assert engine.circuits(["pro"])[PRO].failures == 1


def test_quota_429s_are_not_breaker_failures(make):
    engine = make()
    for _ in range(4):
        granted = engine.try_reserve("p", "pro", RequestCost(10))
        engine.on_rate_limited(
            "p", "pro", QuotaHit((Violation("rpm", 150),), retry_delay_s=1.0), granted.reservation_id
        )
    circuit = engine.circuits(["pro"])[PRO]
    assert (circuit.state, circuit.requests) == ("closed", 0)


def test_bare_429s_and_cut_streams_are_breaker_failures(make):
    engine = make()
    engine.on_rate_limited("p", "pro", QuotaHit(()))
    engine.on_rate_limited("p", "pro", QuotaHit(()))
    engine.on_stream_cut("p", "pro")
    assert state(engine) == "closed"
    verdict = engine.on_stream_cut("p", "pro")
    assert verdict is None and state(engine) == "open"


def test_failure_that_opens_says_so_in_its_verdict(make):
    engine = make()
    for _ in range(3):
        verdict = engine.on_transient_failure("p", "pro", 1)
        assert "circuit" not in verdict.reason and verdict.not_before > T0
    verdict = engine.on_transient_failure("p", "pro", 1)
    assert verdict.retry and "; circuit open — probing at" in verdict.reason
    assert verdict.not_before == T0, "no backoff: admission holds the model until its probe, so route again now"
    bare = make(endpoint="relay")
    for _ in range(4):
        verdict = bare.on_rate_limited("p", "pro", QuotaHit(()))
    assert "; circuit open — probing at" in verdict.reason and verdict.not_before == T0


def test_half_open_admits_one_probe_and_its_success_closes(make, clock):
    engine = make()
    for _ in range(4):
        send(engine, ok=False)
    clock.advance(29.9)
    assert not engine.try_reserve("p", "pro").granted
    clock.advance(0.1)
    assert engine.circuits(["pro"])[PRO].state == "half_open"
    probe = engine.try_reserve("p", "pro", RequestCost(10))
    assert probe.granted
    other = engine.try_reserve("p", "pro", RequestCost(10))
    assert not other.granted and other.dimension == "circuit"
    assert "circuit half-open — probing" in other.reason
    assert other.eta > clock.now()
    assert engine.circuits(["pro"])[PRO].probing
    engine.commit(probe.reservation_id, 10)
    engine.on_success("p", "pro")
    circuit = engine.circuits(["pro"])[PRO]
    assert (circuit.state, circuit.failures, circuit.requests, circuit.probe_at) == ("closed", 0, 0, None)
    assert engine.try_reserve("p", "pro").granted


def test_failed_probe_reopens_with_cooling_doubled_up_to_the_cap(make, clock):
    engine = make(breaker_policy=BreakerPolicy(cooling_s=30, max_cooling_s=100))
    for _ in range(4):
        send(engine, ok=False)
    coolings = [engine.circuits(["pro"])[PRO].cooling_s]
    for _ in range(3):
        clock.advance(coolings[-1])
        send(engine, ok=False)  # the probe fails
        circuit = engine.circuits(["pro"])[PRO]
        assert circuit.state == "open" and circuit.opened_at == clock.now()
        coolings.append(circuit.cooling_s)
    assert coolings == [30, 60, 100, 100]


def test_reopening_soon_after_a_close_doubles_and_later_starts_over(make, clock):
    engine = make()
    for _ in range(4):
        send(engine, ok=False)
    clock.advance(30)
    send(engine, ok=True)  # the probe closes it
    for _ in range(4):
        send(engine, ok=False)
    assert engine.circuits(["pro"])[PRO].cooling_s == 60, "a repeat within 5 minutes of the close"
    clock.advance(60)
    send(engine, ok=True)
    clock.advance(301)
    for _ in range(4):
        send(engine, ok=False)
    assert engine.circuits(["pro"])[PRO].cooling_s == 30, "long healthy: a new opening starts at 30 s"


def test_a_probe_released_without_an_answer_is_handed_back(make, clock):
    engine = make()
    for _ in range(4):
        send(engine, ok=False)
    clock.advance(30)
    probe = engine.try_reserve("p", "pro")
    assert not engine.try_reserve("p", "pro").granted
    engine.release(probe.reservation_id)  # cancelled, or refused by quota: no evidence either way
    assert engine.try_reserve("p", "pro").granted, "the next request takes the probe"


def test_a_lost_probe_is_taken_over_after_its_lease(make, clock):
    engine = make()
    for _ in range(4):
        send(engine, ok=False)
    clock.advance(30)
    assert engine.try_reserve("p", "pro").granted  # its process dies: no outcome ever comes
    clock.advance(60)
    assert not engine.try_reserve("p", "pro").granted
    clock.advance(61)
    assert engine.try_reserve("p", "pro").granted


def test_shared_by_every_engine_on_one_ledger(make, clock):
    first, second = make(), make()
    send(first, ok=False)
    send(second, ok=False)
    send(first, ok=False)
    send(second, ok=False)
    assert state(first) == state(second) == "open"
    assert not second.try_reserve("p", "pro").granted
    clock.advance(30)
    probe = first.try_reserve("p", "pro")
    assert probe.granted
    assert not second.try_reserve("p", "pro").granted, "one probe across processes"
    first.on_success("p", "pro")
    assert second.try_reserve("p", "pro").granted


def test_keyed_by_endpoint(make):
    official, relay = make(), make(endpoint="https://relay.example/… #abc")
    for _ in range(4):
        send(relay, ok=False)
    assert state(relay) == "open"
    assert state(official) == "closed" and official.try_reserve("p", "pro").granted


def test_impossible_request_keeps_its_own_refusal(make):
    engine = make(tier="free")
    for _ in range(4):
        send(engine, "flash", ok=False)
    refused = engine.try_reserve("p", "flash", RequestCost(10_000_000))
    assert refused.impossible and refused.dimension == "tpm"


def test_migration_from_a_v2_ledger(tmp_path, clock):
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as conn:  # a ledger as version 2 of gemtui left it
        conn.executescript(_SCHEMA)
        for version, step in MIGRATIONS:
            if version <= 2:
                step(conn)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO requests VALUES ('r1', 'p', ?, ?, 10, 0, 'committed')", (PRO, round(T0 * 1000) - 5_000)
        )
    assert LEDGER_VERSION == 3
    engine = QuotaEngine(clock=clock, tier="tier1", ledger_path=path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"circuits", "circuit_outcomes"} <= tables
    assert engine.gauges("p", ["pro"])[PRO]["rpm"].used == 1, "usage survived the upgrade"
    for _ in range(4):
        send(engine, ok=False)
    assert state(engine) == "open"
    engine.close()


def test_gauges_json_has_a_circuit_per_model(make, clock):
    engine = make()
    for _ in range(4):
        send(engine, ok=False)
    data = engine.gauges_json("work", "p", ["pro", "flash"])
    pro, flash = data["circuits"][PRO], data["circuits"][FLASH]
    assert pro["state"] == "open" and (pro["failures"], pro["requests"]) == (4, 4)
    assert datetime.fromisoformat(pro["opened_at"]).timestamp() == T0
    assert datetime.fromisoformat(pro["probe_at"]).timestamp() == T0 + 30
    assert flash == {
        "state": "closed",
        "opened_at": None,
        "probe_at": None,
        "probing": False,
        "failures": 0,
        "requests": 0,
        "cooling_s": None,
    }
    text = format_circuits(data, now=datetime.fromtimestamp(T0).astimezone())
    assert text.startswith(f"{PRO}  circuit open — probing at ")
    assert FLASH not in text, "closed circuits are not listed"
    clock.advance(30)
    engine.try_reserve("p", "pro")
    data = engine.gauges_json("work", "p", ["pro"])
    assert data["circuits"][PRO]["state"] == "half_open" and data["circuits"][PRO]["probing"]
    assert "circuit half-open — probing" in format_circuits(data)


def test_breaker_settings_are_read_and_checked(tmp_path):
    path = tmp_path / "config.toml"
    assert load_config(path).breaker == {
        "threshold": 0.5,
        "min_requests": 4,
        "window_s": 60.0,
        "cooling_s": 30.0,
        "max_cooling_s": 300.0,
    }
    path.write_text(
        "[breaker]\nthreshold = 0.75\nmin_requests = 10\nwindow_s = 120\ncooling_s = 10\nmax_cooling_s = 600\n"
    )
    settings = load_config(path).breaker
    assert settings == {"threshold": 0.75, "min_requests": 10, "window_s": 120, "cooling_s": 10, "max_cooling_s": 600}
    assert BreakerPolicy(**settings).cooling_ms(3) == 40_000
    for bad, words in (
        ("threshold = 0", "threshold = 0"),
        ("threshold = 1.5", "0.01 to 1.0"),
        ("min_requests = 2.5", "whole number"),
        ('window_s = "60"', "window_s"),
        ("cooling_s = true", "cooling_s"),
        ("probes = 3", "no setting 'probes'"),
        ("cooling_s = 60\nmax_cooling_s = 30", "below cooling_s"),
    ):
        path.write_text(f"[breaker]\n{bad}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert words in str(info.value) and str(path) in str(info.value)
    path.write_text("breaker = 3\n")
    with pytest.raises(ConfigError, match=r"\[breaker\] must be a table"):
        load_config(path)


class TickingClock(FakeClock):
    """Moves 3 ms on every reading, as a real clock does between two calls."""

    def now(self) -> float:
        self.t += 0.003
        return self.t


def test_the_opening_failure_is_recognised_on_a_moving_clock(tmp_path):
    engine = QuotaEngine(clock=TickingClock(T0), tier="tier1", ledger_path=tmp_path / "ledger.sqlite3")
    for _ in range(3):
        engine.on_transient_failure("p", "pro", 1)
    verdict = engine.on_transient_failure("p", "pro", 1)
    assert "circuit open — probing at" in verdict.reason
    assert verdict.not_before < T0 + 1, "routed again at once, not after a backoff"
    engine.close()
