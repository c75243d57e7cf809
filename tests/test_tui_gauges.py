"""Gauges in the side panel and /quota: every dimension of every model with its reset, blocks shown in full
within the panel's width, threshold notices that read as sentences, and the day-by-day history."""

from __future__ import annotations

import time

import pytest

from gemtui.quota.gauges import Gauge
from gemtui.quota.limits import FLASH, LITE, PRO
from gemtui.quota.pacific import next_midnight
from gemtui.tui.widgets.gauges import PANEL_WIDTH, fallback_lines, gauge_line, threshold_notice
from tests.tui_helpers import FrozenClock, SharedClock, fill, make_app, ready, submit, until

NOW = 1_750_000_000.0


@pytest.fixture(autouse=True)
def pinned_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _gauge(used: int, limit: int | None, resets_in: float | None = None, blocked_in: float | None = None) -> Gauge:
    return Gauge(
        used=used,
        limit=limit,
        remaining=None if limit is None else max(0, limit - used),
        resets_at=None if resets_in is None else NOW + resets_in,
        blocked_until=None if blocked_in is None else NOW + blocked_in,
        source="table",
    )


def _text(line: list[tuple[str, str]]) -> str:
    return "".join(text for text, _level in line)


def test_a_fallback_shows_all_four_dimensions_with_their_resets():
    gauges = {
        "rpm": _gauge(3, 10, 42),
        "tpm": _gauge(12_300, 250_000, 42),
        "rpd": _gauge(45, 250, 40_000),
        "ipm": _gauge(0, 0),
    }
    lines = [_text(line) for line in fallback_lines(gauges, NOW)]
    assert lines == ["RPM 3/10 0:42           TPM 12.3k/250k 0:42", "RPD 45/250 11:06:40     IPM n/a"]
    levels = [[lvl for _text, lvl in line] for line in fallback_lines(gauges, NOW)]
    assert levels == [["normal", "normal"], ["normal", "na"]], "each cell keeps its own colour"


def test_a_blocked_fallback_dimension_gets_a_line_with_its_time_and_nothing_is_cut():
    gauges = {
        "rpm": _gauge(5, 5, 42, blocked_in=42),
        "tpm": _gauge(240_000, 250_000, 42),
        "rpd": _gauge(12_345, 14_400, 40_000, blocked_in=40_000),
        "ipm": _gauge(1, 10, 5),
    }
    lines = fallback_lines(gauges, NOW)
    texts = [_text(line) for line in lines]
    assert texts == [
        "RPM 5/5 blocked until 15:07:22 (0:42)",
        "TPM 240k/250k 0:42",
        "RPD 12.3k/14.4k blocked until 02:13 (11:06:40)",
        "IPM 1/10 0:05",
    ]
    assert all(len(t) <= PANEL_WIDTH for t in texts)
    assert [line[0][1] for line in lines] == ["blocked", "critical", "blocked", "normal"]


def test_the_active_models_blocked_line_fits_the_panel_with_its_time():
    for blocked_in, when in ((42, "15:07:22 (0:42)"), (40_000, "02:13 (11:06:40)")):
        for used, limit in ((3, 100), (12_345, 14_400), (999_999, 1_000_000)):
            text, lvl = gauge_line("rpd", _gauge(used, limit, blocked_in, blocked_in=blocked_in), NOW)
            assert lvl == "blocked" and text.endswith(f"blocked until {when}") and len(text) <= PANEL_WIDTH, text


def test_threshold_notices_read_as_sentences():
    assert threshold_notice(PRO, "rpm", _gauge(4, 5, 30), NOW) == f"{PRO}: RPM 4/5 — 80 % of the limit"
    tpm = threshold_notice(PRO, "tpm", _gauge(240_000, 250_000, 30), NOW)
    assert tpm == f"{PRO}: TPM 240k/250k — 96 % of the limit"
    blocked = threshold_notice(PRO, "rpm", _gauge(1, 1, 42, blocked_in=42), NOW)
    assert blocked == f"{PRO}: RPM 1/1 — blocked until 15:07:22 (0:42)"
    assert "of the limit" not in blocked


@pytest.mark.asyncio
async def test_the_48_column_panel_shows_every_block_in_full(emulator, emulator_clock):
    from tests.fixtures_emulator import EMULATOR_T0

    emulator_clock.set(EMULATOR_T0 + 0.5, running=False)
    clock = FrozenClock(EMULATOR_T0 + 0.5)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = await ready(pilot)
        runtime = app.runtime
        fill(runtime, PRO, 3)
        fill(runtime, FLASH, 2, tokens=1_000)
        midnight_ms = int(next_midnight(clock.now()) * 1000)
        runtime.engine.ledger.set_block(runtime.project, PRO, "rpd", midnight_ms)
        runtime.engine.ledger.set_block(runtime.project, LITE, "rpm", int((clock.now() + 42) * 1000))
        screen.refresh_gauges()
        await pilot.pause(0.2)
        panel = screen.quota_panel
        assert screen.query_one("#side").outer_size.width == 48
        assert {w.content_region.width for w in panel.query("GaugeLine, GaugeCells") if w.display} == {46}
        shown: list[str] = []
        for widget in panel.query("GaugeLine, GaugeCells"):
            lines = str(widget.content).splitlines()
            assert all(len(line) <= widget.content_region.width for line in lines), lines
            shown += lines
        assert "RPD 3/100 blocked until 07:00 (14:00:00)" in shown
        assert "RPM 0/15 blocked until 17:00:42 (0:42)" in shown
        assert shown[4:] == [
            "RPM 2/15 1:00           TPM 2k/1M 1:00",  # Flash: every dimension, each with its reset
            "RPD 2/500 14:00:00      IPM n/a",
            "RPM 0/15 blocked until 17:00:42 (0:42)",  # Flash-Lite: the block on a line of its own
            "TPM 0/250k              RPD 0/1k",
            "IPM n/a",
        ]


@pytest.mark.asyncio
async def test_crossing_a_threshold_notifies_with_the_share_or_the_block_time(emulator, emulator_clock):
    app = make_app(emulator, SharedClock(emulator_clock), model="pro")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = await ready(pilot)
        fill(app.runtime, PRO, 4)
        screen.refresh_gauges()
        await pilot.pause(0.1)
        notes = [str(n.message) for n in app._notifications]
        assert f"{PRO}: RPM 4/5 — 80 % of the limit" in notes
        until_s = emulator_clock() + 30
        app.runtime.engine.ledger.set_block(app.runtime.project, PRO, "rpm", int(until_s * 1000))
        screen.refresh_gauges()
        await pilot.pause(0.1)
        blocked = [str(n.message) for n in app._notifications if "blocked" in str(n.message)]
        assert blocked and blocked[-1].startswith(f"{PRO}: RPM 4/5 — blocked until ")
        assert blocked[-1].endswith(")") and "of the limit" not in blocked[-1]


@pytest.mark.asyncio
async def test_quota_screen_shows_a_day_by_day_history_with_totals(emulator, emulator_clock):
    from textual.widgets import DataTable

    from gemtui.quota import QuotaEngine, RequestCost
    from gemtui.quota.ledger import SqliteLedger
    from gemtui.tui.screens.quota import QuotaScreen
    from tests.clocks import FakeClock

    app = make_app(emulator, SharedClock(emulator_clock), model="pro")
    async with app.run_test(size=(140, 50)) as pilot:
        await ready(pilot)
        runtime = app.runtime
        past = FakeClock(emulator_clock() - 10 * 86_400)
        other = QuotaEngine(SqliteLedger(runtime.engine.ledger.path, past), clock=past)  # another process
        for requests, tokens in ((4, 1_000), (0, 0), (2, 500)):
            for _ in range(requests):
                granted = other.try_reserve(runtime.project, PRO, RequestCost(input_tokens=tokens))
                other.commit(granted.reservation_id, input_tokens=tokens)
            past.advance(86_400)
        past.t = emulator_clock()
        other.ledger.prune(round(past.now() * 1000))
        other.close()
        fill(runtime, PRO, 1, tokens=7)
        await submit(pilot, "/quota")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.1)
        table = app.screen.query_one("#history-table", DataTable)
        rows = {
            str(table.get_row_at(i)[0]): [str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)
        }
        pro = rows[PRO]
        assert pro[1] == "·" * 19 + "█·▄" + "·" * 7 + "▂", "one character per Pacific day, today last"
        assert pro[2:5] == ["7", "5,007", "0"], "requests, input tokens and images over the 30 days"
        assert pro[5].endswith(": 4")
        assert rows[FLASH][1] == "·" * 30 and rows[FLASH][2] == "0"


@pytest.mark.asyncio
async def test_a_circuit_that_is_not_closed_gets_a_line_under_its_model(emulator, emulator_clock):
    from tests.fixtures_emulator import EMULATOR_T0

    emulator_clock.set(EMULATOR_T0 + 0.5, running=False)
    clock = FrozenClock(EMULATOR_T0 + 0.5)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = await ready(pilot)
        engine, project = app.runtime.engine, app.runtime.project
        panel = screen.quota_panel
        assert not panel.query_one("#circuit-active").display, "a closed circuit shows nothing"
        for _ in range(4):  # four 503s in a row on Pro (at 17:00:00.5: probe at 17:00:31), two of 4 on Flash
            engine.on_transient_failure(project, PRO, 1)
        for failed in (False, True, False, True):
            engine.on_transient_failure(project, FLASH, 1) if failed else engine.on_success(project, FLASH)
        screen.refresh_gauges()
        await pilot.pause(0.2)
        line = panel.query_one("#circuit-active")
        assert line.display and str(line.content) == "circuit open — probing at 17:00:31 (0:31)"
        assert line.level == "blocked"
        shown = [text for widget in panel.query("GaugeCells") for text in str(widget.content).splitlines()]
        assert shown[0] == "circuit open — probing at 17:00:31 (0:31)", "Flash's line leads its cells"
        assert not any("circuit" in text for text in shown[1:]), "Flash-Lite is closed: no line"
        assert all(len(text) <= 46 for text in shown)
        clock.t = EMULATOR_T0 + 31
        engine.try_reserve(project, PRO)  # the probe is in flight
        screen.refresh_gauges()
        await pilot.pause(0.2)
        assert str(line.content) == "circuit half-open — probing"
        engine.on_success(project, PRO)
        screen.refresh_gauges()
        await pilot.pause(0.2)
        assert not line.display


@pytest.mark.asyncio
async def test_narrow_quota_line_and_quota_screen_name_an_open_circuit(emulator, emulator_clock):
    from gemtui.tui.screens.quota import QuotaScreen
    from tests.fixtures_emulator import EMULATOR_T0

    emulator_clock.set(EMULATOR_T0, running=False)
    clock = FrozenClock(EMULATOR_T0)
    app = make_app(emulator, clock, model="pro")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        engine, project = app.runtime.engine, app.runtime.project
        for _ in range(4):
            engine.on_transient_failure(project, PRO, 1)
        screen.refresh_gauges()
        await pilot.pause(0.2)
        line = screen.query_one("#quota-line")
        assert str(line.content).startswith(f"{PRO}  circuit open — probing at 17:00:30 (0:30)")
        assert line.level == "blocked"
        await submit(pilot, "/quota")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.1)
        circuits = app.screen.query_one("#circuits")
        assert circuits.display and str(circuits.content) == f"{PRO}: circuit open — probing at 17:00:30 (0:30)"


def test_a_limit_nobody_has_told_us_yet_reads_unknown_learning():
    from gemtui.tui.widgets.gauges import compact_line

    unknown = Gauge(used=3, limit=None, remaining=None, resets_at=None, blocked_until=None, source="unknown")
    text, lvl = gauge_line("rpm", unknown, NOW)
    assert "unknown — learning" in text and "3/?" in text and lvl == "na"
    assert len(text) <= PANEL_WIDTH
    line, _ = compact_line("gemini-3-pro", dict.fromkeys(("rpm", "tpm", "rpd", "ipm"), unknown), NOW)
    assert line == "limits unknown — learning"
    unlimited = _gauge(3, None)
    assert "unknown" not in gauge_line("rpd", unlimited, NOW)[0]
