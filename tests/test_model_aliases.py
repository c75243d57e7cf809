"""`pro`, `flash` and `lite` follow the server's model list: newest family member that generates content,
stable before preview, cached a day (0600), a config pin first; the emulator's list can be set."""

from __future__ import annotations

import json
import stat

import pytest

from gemtui import exitcodes
from gemtui.chat import model_aliases
from gemtui.chat.model_aliases import choose, newest_by_family
from gemtui.quota.limits import FALLBACK_ORDER, resolve_model
from tests.cli_helpers import Gemtui
from tests.fixtures_e2e import PROJECT, server
from tests.fixtures_emulator import emulator_http

NEWER = [
    "gemini-3-pro-preview",
    "gemini-3-pro",
    "gemini-3-flash-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-image",
]


def test_newest_version_wins_and_stable_beats_preview_at_the_same_version():
    assert newest_by_family(["gemini-2.5-pro", "gemini-3-pro-preview"])["pro"] == "gemini-3-pro-preview"
    assert newest_by_family(["gemini-3-pro-preview", "gemini-3-pro", "gemini-2.5-pro"])["pro"] == "gemini-3-pro"
    assert newest_by_family(["models/gemini-2.5-flash", "gemini-2.5-flash-preview-09-2025"]) == {
        "flash": "gemini-2.5-flash"
    }
    assert newest_by_family(["gemini-2.0-flash-001", "gemini-2.0-flash"])["flash"] == "gemini-2.0-flash"
    assert newest_by_family(["gemini-2.5-flash-lite", "gemini-2.5-flash"]) == {
        "flash": "gemini-2.5-flash",
        "lite": "gemini-2.5-flash-lite",
    }
    assert newest_by_family(["gemini-2.10-pro", "gemini-2.9-pro"])["pro"] == "gemini-2.10-pro"


def test_models_that_are_not_a_chat_family_never_become_an_alias():
    odd = [
        "gemini-3-pro-image-preview",
        "gemini-2.5-flash-preview-tts",
        "gemini-flash-latest",
        "gemini-live-2.5-flash-preview",
        "gemini-2.5-flash-image",
        "gemma-3-27b-it",
        "gemini-9-pro-vision",
    ]
    assert newest_by_family(odd) == {}
    assert choose(odd, {}) == {"pro": "gemini-2.5-pro", "flash": "gemini-2.5-flash", "lite": "gemini-2.5-flash-lite"}


def test_a_pin_beats_the_servers_newest():
    assert choose(NEWER, {"pro": "gemini-2.5-pro"})["pro"] == "gemini-2.5-pro"
    assert choose(NEWER, {"pro": "gemini-2.5-pro"})["flash"] == "gemini-3-flash-preview"


def test_only_models_that_generate_content_count():
    class Info:
        def __init__(self, name, actions):
            self.name, self.supported_actions = name, actions

    infos = [
        Info("models/gemini-3-pro", ["embedContent"]),
        Info("models/gemini-2.5-pro", ["generateContent"]),
        Info("models/gemini-3-flash", None),
    ]
    assert model_aliases.generate_ids(infos) == ("gemini-2.5-pro", "gemini-3-flash")


# -- the emulator's list ---------------------------------------------------------------------------------


def test_emulator_default_list_keeps_the_25_family_newest_and_its_list_can_be_set(emulator, make_client):
    client = make_client()
    listed = [m.name.removeprefix("models/") for m in client.models.list()]
    assert "gemini-2.5-pro" in listed and not any(m.startswith("gemini-3") for m in listed)
    assert newest_by_family(listed)["pro"] == "gemini-2.5-pro"

    emulator.set_models("current")
    listed = [m.name.removeprefix("models/") for m in client.models.list()]
    assert {"gemini-3-pro-preview", "gemini-3-flash", "gemini-2.5-pro"} <= set(listed)
    assert client.models.get(model="gemini-3-pro-preview").input_token_limit == 1_048_576

    status, body = emulator_http(emulator, "POST", "/_emulator/models", {"models": ["gemini-3-pro", "gemini-2.5-pro"]})
    assert status == 200 and body["models"] == ["gemini-3-pro", "gemini-2.5-pro"]
    answer = client.models.generate_content(model="gemini-3-pro", contents="hi [[tokens=5]]")
    assert answer.text
    from google.genai import errors

    with pytest.raises(errors.ClientError) as refused:  # no longer served: a 404 like the real service's
        client.models.generate_content(model="gemini-3-flash", contents="hi")
    assert refused.value.code == 404


def test_emulator_command_takes_a_model_list():
    from gemtui.cli import build_parser

    args = build_parser().parse_args(["emulator", "--models", "gemini-3-pro,gemini-2.5-pro"])
    assert args.models == "gemini-3-pro,gemini-2.5-pro"
    from gemtui.emulator.catalogue import model_list

    assert [m.family for m in model_list(args.models)] == ["pro", "pro"]
    assert [m.name for m in model_list("current")][:2] == ["gemini-3-pro-preview", "gemini-3-flash"]
    with pytest.raises(ValueError):
        model_list("gemini 3")


# -- end to end: the real CLI, the real SDK, the emulator over HTTP --------------------------------------


@pytest.fixture
def gemtui(emulator, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", "key-a")
    return Gemtui(monkeypatch, capsys)


def test_pro_asks_the_newest_pro_the_server_lists_and_its_limits_read_unknown(gemtui, emulator, isolated_dirs):
    emulator.set_models(NEWER)
    code = gemtui("ask", "hello [[tokens=8]]", "--model", "pro", "--endpoint", emulator.base_url)
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    assert server(emulator, "gemini-3-pro")["accepted"] == 1
    assert server(emulator, "gemini-2.5-pro")["accepted"] == 0
    assert list(FALLBACK_ORDER) == ["gemini-3-pro", "gemini-3-flash-preview", "gemini-2.5-flash-lite"]

    cached = list((isolated_dirs / "cache" / "gemtui").glob("models-*.json"))
    assert len(cached) == 1 and stat.S_IMODE(cached[0].stat().st_mode) == 0o600
    assert emulator.base_url not in cached[0].read_text()  # a relay URL may carry a token: never on disk
    assert "gemini-3-pro" in json.loads(cached[0].read_text())["models"]

    code = gemtui("quota", "--json", "--endpoint", emulator.base_url)
    models = json.loads(gemtui.outputs[-1][1])["models"]
    assert code == 0 and list(models)[0] == "gemini-3-pro"
    assert models["gemini-3-pro"]["rpm"] == {**models["gemini-3-pro"]["rpm"], "limit": None, "source": "unknown"}
    assert models["gemini-2.5-flash-lite"]["rpm"]["source"] == "table"
    gemtui("quota", "--endpoint", emulator.base_url)
    assert "unknown — learning" in gemtui.outputs[-1][1]


def test_the_list_is_cached_for_a_day_and_a_config_pin_wins(gemtui, emulator, isolated_dirs):
    emulator.set_models(NEWER)
    assert gemtui("ask", "one [[tokens=5]]", "--model", "pro", "--endpoint", emulator.base_url) == 0
    emulator.set_models("default")  # within the day the cached list still speaks
    assert gemtui("ask", "two [[tokens=5]]", "--model", "pro", "--endpoint", emulator.base_url) != 0
    assert "gemini-3-pro" in gemtui.outputs[-1][1]  # the server no longer has it: said, not hidden

    config = isolated_dirs / "config" / "gemtui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[models]\npro = "gemini-2.5-pro"\n')
    assert gemtui("ask", "three [[tokens=5]]", "--model", "pro", "--endpoint", emulator.base_url) == 0
    assert server(emulator, "gemini-2.5-pro")["accepted"] == 1
    assert resolve_model("pro") == "gemini-2.5-pro"


def test_a_stale_cache_is_asked_again(emulator, isolated_dirs):
    from gemtui.config import Config
    from gemtui.runtime import build_runtime

    runtime = build_runtime(
        profile_name="t",
        project=PROJECT,
        tier="free",
        api_key="key-a",
        endpoint=emulator.base_url,
        api_version=None,
        config=Config({}),
        ledger_path=isolated_dirs / "ledger.sqlite3",
    )
    emulator.set_models(NEWER)
    first = model_aliases.resolve(runtime, now=1_000_000.0)
    assert (first.source, first.aliases["pro"]) == ("server", "gemini-3-pro")
    emulator.set_models("default")
    assert model_aliases.resolve(runtime, now=1_000_000.0 + 3600).source == "cache"
    later = model_aliases.resolve(runtime, now=1_000_000.0 + 25 * 3600)
    assert (later.source, later.aliases["pro"]) == ("server", "gemini-2.5-pro")


def test_an_endpoint_without_a_model_list_keeps_the_built_in_models(emulator, isolated_dirs):
    from gemtui.config import Config
    from gemtui.runtime import build_runtime
    from tests.cli_helpers import closed_port

    runtime = build_runtime(
        profile_name="t",
        project=PROJECT,
        tier="free",
        api_key="key-a",
        endpoint=f"http://127.0.0.1:{closed_port()}",
        api_version=None,
        config=Config({}),
        ledger_path=isolated_dirs / "ledger.sqlite3",
    )
    resolution = model_aliases.resolve_and_use(runtime)
    assert resolution.source == "built-in" and resolution.problem
    assert list(FALLBACK_ORDER) == ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]


async def test_the_app_resolves_the_aliases_after_start_and_model_lists_what_the_server_offers(
    emulator, emulator_clock
):
    from textual.widgets import OptionList

    from gemtui.tui.screens.model_picker import ModelPicker
    from tests.tui_helpers import SharedClock, make_app, ready, submit, until

    emulator.set_models(NEWER)
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await until(pilot, lambda: FALLBACK_ORDER[0] == "gemini-3-pro")  # off the UI thread, after start
        await until(pilot, lambda: "gemini-3-pro" in str(chat.query_one("#quota-title").content))
        await submit(pilot, "/model")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker))
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids[:4] == ["auto", "gemini-3-pro", "gemini-3-flash-preview", "gemini-2.5-flash-lite"]
        assert {"gemini-3-pro-preview", "gemini-2.5-pro", "gemini-2.5-flash"} <= set(ids[4:])
        shown = str(options.get_option_at_index(1).prompt)
        assert "unknown — learning" in shown  # no borrowed limits for a model the table does not know
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)

        from textual.widgets import DataTable

        from gemtui.tui.screens.quota import QuotaScreen

        await submit(pilot, "/quota")
        await until(pilot, lambda: isinstance(app.screen, QuotaScreen))
        await pilot.pause(0.1)
        table = app.screen.query_one("#quota-table", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        new_rpm = next(r for r in rows if r[0] == "gemini-3-pro" and r[1] == "RPM")
        assert new_rpm[2] == "0/?" and new_rpm[6] == "unknown — learning"
        lite_rpm = next(r for r in rows if r[0] == "gemini-2.5-flash-lite" and r[1] == "RPM")
        assert lite_rpm[6] == "table"


def test_writing_a_list_prunes_lists_older_than_a_day(isolated_dirs, tmp_path):
    import os
    import time

    folder = tmp_path / "cache"
    folder.mkdir()
    stale, fresh = folder / "models-aaaa.json", folder / "models-bbbb.json"
    for path in (stale, fresh):
        path.write_text("{}")
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    model_aliases.write_cache(folder / "models-cccc.json", ["gemini-3-pro"], time.time())
    assert sorted(p.name for p in folder.iterdir()) == ["models-bbbb.json", "models-cccc.json"]
    assert model_aliases.read_cache(folder / "models-cccc.json", time.time()) == ("gemini-3-pro",)


def test_an_unknown_models_first_429_teaches_its_limit_and_auto_moves_on(gemtui, emulator):
    emulator.set_models(NEWER)
    emulator.set_limits("gemini-3-pro", "free", rpm=1)
    base = ("--endpoint", emulator.base_url)
    assert gemtui("ask", "one [[tokens=5]]", *base) == 0
    assert gemtui("ask", "two [[tokens=5]]", *base) == 0, gemtui.outputs[-1][1]
    assert server(emulator, "gemini-3-pro") == {**server(emulator, "gemini-3-pro"), "accepted": 1, "rejected_429": 1}
    assert server(emulator, "gemini-3-flash-preview")["accepted"] == 1  # auto went on to the next model
    assert gemtui("quota", "--json", *base) == 0
    rpm = json.loads(gemtui.outputs[-1][1])["models"]["gemini-3-pro"]["rpm"]
    assert (rpm["limit"], rpm["source"], rpm["used"]) == (1, "learned", 1)
    tpm = json.loads(gemtui.outputs[-1][1])["models"]["gemini-3-pro"]["tpm"]
    assert (tpm["limit"], tpm["source"]) == (None, "unknown")


def test_a_pin_that_is_not_a_model_id_is_refused_with_the_file_and_key(gemtui, isolated_dirs):
    config = isolated_dirs / "config" / "gemtui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[models]\npro = 3\n")
    assert gemtui("quota") == exitcodes.EXIT_USAGE
    said = gemtui.outputs[-1][1]
    assert str(config) in said and "[models] pro = 3 is not allowed" in said


async def test_switching_profile_resolves_the_aliases_against_the_new_server(emulator, emulator_clock, secret_service):
    from gemtui.auth import add_profile
    from gemtui.tui.slash.routing import switch_profile
    from tests.tui_helpers import SharedClock, make_app, ready, until

    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await until(pilot, app.settled.is_set)  # start-up resolved the aliases (default list: 2.5)
        assert FALLBACK_ORDER[0] == "gemini-2.5-pro"
        emulator.set_models(NEWER)  # another endpoint (a query makes it another cache entry) lists more
        add_profile("work", "key-a", endpoint=f"{emulator.base_url}?via=work", project=PROJECT, activate=False)
        assert await switch_profile(chat, "work") is None
        await until(pilot, lambda: FALLBACK_ORDER[0] == "gemini-3-pro")
