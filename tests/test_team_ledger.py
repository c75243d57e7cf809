"""Choosing the team ledger and living without it: `[ledger] url` / GEMTUI_LEDGER_URL, the password from the
keyring, `gemtui quota` naming the ledger, what an unreachable Redis does under each policy, and what the TUI
shows (teammates' usage in the gauges, the banner while counting locally)."""

from __future__ import annotations

import json

import pytest

from gemtui import exitcodes, paths
from gemtui.quota import QuotaEngine
from gemtui.quota.clock import SystemClock
from gemtui.quota.ledger import SqliteLedger
from gemtui.quota.ledger_fallback import BANNER, FallbackLedger, LedgerUnreachable
from gemtui.quota.ledger_redis import RedisLedger
from gemtui.team_ledger import connect
from gemtui.tui.widgets.gauges import gauge_cell, gauge_line
from tests.cli_helpers import Gemtui, closed_port
from tests.fixtures_redis import start_redis, stop_redis


@pytest.fixture
def gemtui(monkeypatch, capsys):
    return Gemtui(monkeypatch, capsys)


def write_config(text: str) -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_quota_names_the_team_ledger_it_reads(gemtui, redis_server, redis_client, monkeypatch):
    monkeypatch.setenv("GEMTUI_LEDGER_URL", redis_server.url)
    assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
    assert f"ledger: team ({redis_server.url}, project demo)" in gemtui.outputs[-1][1]
    assert gemtui("ask", "--demo", "--model", "flash", "hello") == exitcodes.EXIT_OK
    assert redis_client.keys("gemtui:{demo}:*")  # the request was booked in the team's Redis
    assert gemtui("quota", "--demo", "--json") == exitcodes.EXIT_OK
    document = json.loads(gemtui.outputs[-1][1])
    assert document["ledger"].startswith("team (")
    assert document["models"]["gemini-2.5-flash"]["rpm"]["used"] == 1
    assert document["models"]["gemini-2.5-flash"]["rpm"]["team"] == 0  # it was this machine's


def test_quota_names_the_local_ledger_without_a_url(gemtui):
    assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
    assert f"ledger: local ({paths.ledger_file()})" in gemtui.outputs[-1][1]


def test_unreachable_at_start_counts_locally_with_one_warning(gemtui, monkeypatch):
    write_config(f'[ledger]\nurl = "redis://127.0.0.1:{closed_port()}/0"\n')
    assert gemtui("ask", "--demo", "hello") == exitcodes.EXIT_OK
    printed = gemtui.outputs[-1][1]
    warnings = [line for line in printed.splitlines() if BANNER in line]
    assert len(warnings) == 1 and warnings[0].startswith("gemtui: warning: ")
    assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
    assert f"ledger: local ({BANNER}" in gemtui.outputs[-1][1]


def test_unreachable_at_start_stops_with_its_own_status_when_told(gemtui):
    port = closed_port()
    write_config(f'[ledger]\nurl = "redis://127.0.0.1:{port}/0"\non_unreachable = "stop"\n')
    assert gemtui("ask", "--demo", "hello") == exitcodes.EXIT_LEDGER
    printed = gemtui.outputs[-1][1].strip()
    assert printed.count("\n") == 0
    assert printed.startswith(f"gemtui: team ledger redis://127.0.0.1:{port}/0 unreachable")
    assert printed.endswith('stopping ([ledger] on_unreachable = "stop")')
    from gemtui.cli import build_parser

    assert "11  team ledger unreachable" in build_parser().format_help()


@pytest.mark.parametrize(
    "text, what",
    [
        ('url = "redis://:hunter2@127.0.0.1:6379/0"', "url"),
        ('url = "http://127.0.0.1:6379"', "url"),
        ('on_unreachable = "retry"', "on_unreachable"),
        ('password_secret = "a:b"', "password_secret"),
    ],
)
def test_bad_ledger_settings_are_refused_naming_the_key(gemtui, text, what):
    write_config(f"[ledger]\n{text}\n")
    assert gemtui("quota", "--demo") == exitcodes.EXIT_USAGE
    printed = gemtui.outputs[-1][1]
    assert f"[ledger] {what} = " in printed
    assert "is not allowed" in printed and "hunter2" not in printed
    if what == "url":
        assert "docs/team.md" in printed


def test_the_password_comes_from_the_keyring(gemtui, secret_service, tmp_path):
    import keyring

    server = start_redis(tmp_path / "redis")
    try:
        server.client().config_set("requirepass", "s3cret-ledger")
        write_config(f'[ledger]\nurl = "{server.url}"\npassword_secret = "team"\n')
        assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
        assert BANNER in gemtui.outputs[-1][1]  # no password stored yet: refused, so counted locally
        keyring.set_password("gemtui", "team:ledger_password", "s3cret-ledger")
        assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
        assert f"ledger: team ({server.url}, project demo)" in gemtui.outputs[-1][1]
        assert all("s3cret-ledger" not in text for _, text in gemtui.outputs)
    finally:
        stop_redis(server)


def test_auth_ledger_password_stores_it_and_names_it_in_the_config(gemtui, secret_service, tmp_path):
    import tomllib

    import keyring

    server = start_redis(tmp_path / "redis")
    try:
        server.client().config_set("requirepass", "s3cret-ledger")
        write_config(f'[ledger]\nurl = "{server.url}"\n')
        assert gemtui("auth", "ledger-password", stdin="s3cret-ledger\n") == exitcodes.EXIT_OK
        assert keyring.get_password("gemtui", "team:ledger_password") == "s3cret-ledger"
        assert tomllib.loads(paths.config_file().read_text())["ledger"]["password_secret"] == "team"
        assert paths.config_file().read_text().count("s3cret-ledger") == 0
        assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
        assert f"ledger: team ({server.url}, project demo)" in gemtui.outputs[-1][1]

        assert gemtui("auth", "ledger-password", "ops") == exitcodes.EXIT_USAGE  # empty: nothing stored
        assert "password is empty" in gemtui.outputs[-1][1]
        assert gemtui("auth", "ledger-password", "a:b") == exitcodes.EXIT_USAGE
        assert tomllib.loads(paths.config_file().read_text())["ledger"]["password_secret"] == "team"

        assert gemtui("auth", "ledger-password", "--forget") == exitcodes.EXIT_OK
        assert keyring.get_password("gemtui", "team:ledger_password") is None
        assert "password_secret" not in tomllib.loads(paths.config_file().read_text())["ledger"]
        assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
        assert BANNER in gemtui.outputs[-1][1]  # the server wants a password no longer given
        assert all("s3cret-ledger" not in text for _, text in gemtui.outputs)
    finally:
        stop_redis(server)


def test_losing_redis_mid_run_goes_local_once_and_says_so(tmp_path):
    from gemtui import storage

    heard: list[str] = []
    stop_listening = storage.add_listener(heard.append)
    server = start_redis(tmp_path / "redis")
    try:
        team = RedisLedger(connect(server.url, password=None, timeout_s=2.0), "p", owner="m")
        ledger = FallbackLedger(
            team, lambda: SqliteLedger(tmp_path / "local.sqlite3"), policy="local", where=server.url
        )
        engine = QuotaEngine(ledger, clock=SystemClock(), tier="free")
        assert engine.try_reserve("p", "pro").granted and ledger.team
        stop_redis(server)
        for _ in range(3):
            assert engine.try_reserve("p", "pro").granted  # counted on this machine from now on
        assert not ledger.team and ledger.banner == BANNER
        assert len(heard) == 1 and heard[0].startswith(BANNER)
        assert engine.warnings == heard
        assert engine.gauges("p", ["pro"])["gemini-2.5-pro"]["rpm"].used == 3  # nothing reconciled silently
    finally:
        stop_listening()
        if server.process.poll() is None:
            stop_redis(server)


def test_losing_redis_mid_run_stops_when_told(tmp_path):
    server = start_redis(tmp_path / "redis")
    team = RedisLedger(connect(server.url, password=None, timeout_s=2.0), "p", owner="m")
    ledger = FallbackLedger(team, lambda: SqliteLedger(tmp_path / "local.sqlite3"), policy="stop", where=server.url)
    engine = QuotaEngine(ledger, clock=SystemClock(), tier="free")
    assert engine.try_reserve("p", "pro").granted
    stop_redis(server)
    with pytest.raises(LedgerUnreachable, match="stopping"):
        engine.try_reserve("p", "pro")
    assert not (tmp_path / "local.sqlite3").exists()


def test_gauges_show_team_usage_beside_our_own():
    from gemtui.quota.gauges import Gauge

    gauge = Gauge(used=4, limit=5, remaining=1, resets_at=None, blocked_until=None, source="table", team=3)
    assert gauge_line("rpm", gauge, 0.0)[0].endswith("4/5  3 team")
    assert gauge_cell("rpm", gauge, 0.0)[0] == "RPM 4/5 3 team"
    alone = Gauge(used=4, limit=5, remaining=1, resets_at=None, blocked_until=None, source="table")
    assert "team" not in gauge_line("rpm", alone, 0.0)[0]


async def test_tui_shows_the_banner_while_counting_locally(emulator, emulator_clock):
    from gemtui.config import Config
    from tests.fixtures_emulator import EMULATOR_T0
    from tests.tui_helpers import FrozenClock, make_app, ready

    emulator_clock.set(EMULATOR_T0 + 0.5, running=False)
    config = Config({"ledger": {"url": f"redis://127.0.0.1:{closed_port()}/0"}})
    app = make_app(emulator, FrozenClock(EMULATOR_T0 + 0.5), config=config, model="pro")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = await ready(pilot)
        screen.refresh_gauges()
        await pilot.pause(0.2)
        banner = screen.quota_panel.query_one("#ledger-banner")
        assert banner.display and str(banner.content) == BANNER


async def test_tui_gauges_show_teammates_usage(emulator, emulator_clock, redis_server, redis_client):
    from gemtui.config import Config
    from tests.fixtures_emulator import EMULATOR_T0
    from tests.tui_helpers import FrozenClock, make_app, ready

    emulator_clock.set(EMULATOR_T0 + 0.5, running=False)
    clock = FrozenClock(EMULATOR_T0 + 0.5)
    app = make_app(emulator, clock, config=Config({"ledger": {"url": redis_server.url}}), model="pro")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = await ready(pilot)
        project = app.runtime.project
        teammate = QuotaEngine(
            RedisLedger(redis_server.client(), project, owner="teammate", clock=clock), clock=clock, tier="free"
        )
        for _ in range(3):
            assert teammate.try_reserve(project, "pro").granted
        assert app.runtime.engine.try_reserve(project, "pro").granted
        screen.refresh_gauges()
        await pilot.pause(0.2)
        panel = screen.quota_panel
        assert not panel.query_one("#ledger-banner").display
        assert str(panel.query_one("#gauge-rpm").content).endswith("4/5  1:00  3 team")


def _unreachable_opener():
    raise LedgerUnreachable(
        "team ledger redis://127.0.0.1:1/0 unreachable: Connection refused — stopping "
        '([ledger] on_unreachable = "stop")'
    )


async def test_tui_stops_with_its_own_status_when_told(capsys):
    from gemtui.commands.tui import exit_status
    from gemtui.config import Config
    from gemtui.tui.app import GemtuiApp

    app = GemtuiApp(_unreachable_opener, config=Config({}))
    async with app.run_test(size=(120, 34)) as pilot:
        for _ in range(200):
            if app.return_code is not None:
                break
            await pilot.pause(0.05)
    assert app.return_code == exitcodes.EXIT_LEDGER
    capsys.readouterr()
    assert exit_status(app, app.return_code) == exitcodes.EXIT_LEDGER
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("gemtui: team ledger redis://127.0.0.1:1/0 unreachable") and "\n" not in printed


def test_rediss_urls_speak_tls_and_messages_never_show_credentials():
    from redis.connection import SSLConnection

    from gemtui.team_ledger import shown_url

    client = connect("rediss://ledger.example:6380/2", password="pw", timeout_s=1.0)
    assert client.connection_pool.connection_class is SSLConnection
    assert client.connection_pool.connection_kwargs["password"] == "pw"
    assert shown_url("rediss://user:secret@ledger.example:6380/2") == "rediss://ledger.example:6380/2"


@pytest.mark.parametrize("policy", ["local", "stop"])
def test_a_redis_whose_keys_gemtui_cannot_read_follows_the_unreachable_policy(tmp_path, policy):
    """A key of another type or shape (another version's layout, another program's) raised WRONGTYPE or a
    KeyError out of every command (exit 1, a cryptic line) whatever `on_unreachable` said."""
    import redis

    from gemtui import storage

    heard: list[str] = []
    stop_listening = storage.add_listener(heard.append)
    server = start_redis(tmp_path / "redis")
    try:
        redis.Redis.from_url(server.url).rpush("gemtui:{p}:m:gemini-2.5-pro:live", "not a gemtui window")
        team = RedisLedger(connect(server.url, password=None, timeout_s=2.0), "p", owner="m")
        ledger = FallbackLedger(team, lambda: SqliteLedger(tmp_path / "local.sqlite3"), policy=policy, where=server.url)
        engine = QuotaEngine(ledger, clock=SystemClock(), tier="free")
        if policy == "stop":
            with pytest.raises(LedgerUnreachable, match="unusable .*WRONGTYPE.* stopping"):
                engine.try_reserve("p", "pro")
            return
        assert engine.try_reserve("p", "pro").granted  # counted on this machine instead
        assert not ledger.team and len(heard) == 1
        assert "unusable (its keys hold data this gemtui cannot read" in heard[0] and "WRONGTYPE" in heard[0]
    finally:
        stop_listening()
        stop_redis(server)
