"""`gemtui ask --api openai` and `gemtui auth add --api openai`, run in-process against the emulator's
OpenAI-compatible side through the real `openai` SDK."""

from __future__ import annotations

import json

import pytest

from gemtui import exitcodes
from tests.cli_helpers import Gemtui


@pytest.fixture
def gemtui(monkeypatch, capsys, secret_service):
    return Gemtui(monkeypatch, capsys)


def test_ask_api_openai_streams_the_answer_with_the_env_key(gemtui, emulator, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "key-c")
    code = gemtui(
        "ask",
        "--api",
        "openai",
        "--endpoint",
        emulator.openai_base_url,
        "--model",
        "deepseek-chat",
        "hello [[tokens=20]]",
    )
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    assert gemtui.outputs[-1][1].strip()
    assert emulator.openai_counters()["served"] == 1


def test_a_stream_that_ends_without_its_finish_reason_is_a_cut_not_a_cached_answer(gemtui, emulator, monkeypatch):
    """A clean close before the chunk naming why the answer ended printed the text, exit 0, and the
    response cache kept it as a whole answer."""
    monkeypatch.setenv("OPENAI_API_KEY", "key-c")
    emulator.set_openai_limits(ends_without_finish=True)
    ask = ("ask", "--api", "openai", "--endpoint", emulator.openai_base_url, "--model", "deepseek-chat", "--cache")
    code = gemtui(*ask, "a long answer [[tokens=60]]")
    printed = gemtui.outputs[-1][1]
    assert code == exitcodes.EXIT_SERVER, printed
    assert "ended before the answer was finished; the partial answer is kept" in printed
    emulator.set_openai_limits(ends_without_finish=False)
    assert gemtui(*ask, "a long answer [[tokens=60]]") == exitcodes.EXIT_OK
    assert "cached" not in gemtui.outputs[-1][1], "the cut answer was not kept"
    assert emulator.openai_counters()["served"] == 2


def test_an_openai_endpoints_query_token_goes_on_every_request(gemtui, emulator, monkeypatch):
    """`…/v1?token=…` reached the server as `/v1/?token=…chat/completions`: the SDK appends its paths to
    the base URL as text. The relay here wants its token as a query parameter on every request."""
    from urllib.parse import urlsplit

    monkeypatch.setenv("OPENAI_API_KEY", "key-c")
    emulator.set_relay(prefix="/gw/acc-QTOKEN9", query="token=q1-SECRET")
    side = urlsplit(emulator.openai_base_url).path
    endpoint = f"{emulator.base_url}/gw/acc-QTOKEN9{side}?token=q1-SECRET"
    code = gemtui("ask", "--api", "openai", "--endpoint", endpoint, "--model", "deepseek-chat", "hi [[tokens=10]]")
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    assert emulator.openai_counters()["served"] == 1
    assert "q1-SECRET" not in gemtui.outputs[-1][1]


def test_ask_api_openai_without_a_key_or_model_says_so_in_one_line(gemtui, emulator, monkeypatch):
    code = gemtui("ask", "--api", "openai", "--endpoint", emulator.openai_base_url, "--model", "deepseek-chat", "hi")
    assert code == exitcodes.EXIT_AUTH and "OPENAI_API_KEY" in gemtui.outputs[-1][1]
    monkeypatch.setenv("OPENAI_API_KEY", "key-c")
    code = gemtui("ask", "--api", "openai", "--endpoint", emulator.openai_base_url, "hi")
    assert code == exitcodes.EXIT_USAGE and "--model" in gemtui.outputs[-1][1]
    assert emulator.openai_counters()["served"] == 0


def test_ask_api_openai_with_a_bad_key_is_an_auth_failure(gemtui, emulator, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
    code = gemtui("ask", "--api", "openai", "--endpoint", emulator.openai_base_url, "--model", "deepseek-chat", "hello")
    assert code == exitcodes.EXIT_AUTH
    assert "sk-wrong-key-000000" not in gemtui.outputs[-1][1]


def test_auth_add_api_openai_stores_the_kind_and_the_profile_answers(gemtui, emulator):
    code = gemtui(
        "auth",
        "add",
        "ds",
        "--api",
        "openai",
        "--endpoint",
        emulator.openai_base_url,
        "--model",
        "deepseek-chat",
        "--header",
        "X-Relay: r1",
        "--no-use",
        stdin="key-c\n",
    )
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    assert gemtui("auth", "list", "--json") == exitcodes.EXIT_OK
    listed = json.loads(gemtui.outputs[-1][1])
    entry = next(p for p in listed["profiles"] if p["name"] == "ds")
    assert entry["api"] == "openai"
    assert gemtui("auth", "list") == exitcodes.EXIT_OK
    assert "openai" in gemtui.outputs[-1][1]
    code = gemtui("ask", "--profile", "ds", "hello [[tokens=20]]")
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    assert emulator.openai_counters()["served"] == 1


def test_auth_test_of_an_openai_profile_lists_its_models(gemtui, emulator):
    gemtui(
        "auth",
        "add",
        "ds",
        "--api",
        "openai",
        "--endpoint",
        emulator.openai_base_url,
        "--model",
        "deepseek-chat",
        "--no-use",
        stdin="key-c\n",
    )
    assert gemtui("auth", "test", "ds") == exitcodes.EXIT_OK
    assert "deepseek-chat is available" in gemtui.outputs[-1][1]
    gemtui(
        "auth",
        "add",
        "bad",
        "--api",
        "openai",
        "--endpoint",
        emulator.openai_base_url,
        "--no-use",
        stdin="nope-key-123456\n",
    )
    assert gemtui("auth", "test", "bad") == exitcodes.EXIT_AUTH
    assert "nope-key-123456" not in gemtui.outputs[-1][1]


def test_auth_add_api_openai_needs_an_endpoint(gemtui):
    assert gemtui("auth", "add", "ds", "--api", "openai", stdin="key-c\n") == exitcodes.EXIT_USAGE
    assert "--endpoint" in gemtui.outputs[-1][1]


def test_quota_shows_the_demo_links_limits_as_its_headers_state_them(gemtui):
    assert gemtui("ask", "--demo", "--model", "deepseek:deepseek-chat", "hi [[tokens=10]]") == exitcodes.EXIT_OK
    assert gemtui("quota", "--demo", "--json") == exitcodes.EXIT_OK
    document = json.loads(gemtui.outputs[-1][1])
    link = document["models"]["deepseek:deepseek-chat"]
    assert link["rpm"]["limit"] == 60 and link["rpm"]["source"] == "server headers" and link["rpm"]["used"] == 1
    assert link["tpm"]["source"] == "server headers"
    assert link["rpd"]["source"] == "n/a"
    assert gemtui("quota", "--demo") == exitcodes.EXIT_OK
    rows = [line for line in gemtui.outputs[-1][1].splitlines() if line.startswith("deepseek:deepseek-chat")]
    assert any(" RPD " in row and "n/a" in row for row in rows)


def test_ask_api_openai_sends_settings_and_attachments_in_its_own_wire_format(gemtui, emulator, monkeypatch, tmp_path):
    from gemtui.emulator.textgen import make_png

    monkeypatch.setenv("OPENAI_API_KEY", "key-c")
    notes = tmp_path / "notes [b].txt"
    notes.write_text("a file's words\n")
    picture = tmp_path / "p.png"
    picture.write_bytes(make_png("wire", 1))
    code = gemtui(
        "ask",
        "--api",
        "openai",
        "--endpoint",
        emulator.openai_base_url,
        "--model",
        "deepseek-chat",
        "--temperature",
        "0.3",
        "--top-p",
        "0.5",
        "--max-output",
        "64",
        "-a",
        str(notes),
        "-a",
        str(picture),
        "what is in these?",
    )
    assert code == exitcodes.EXIT_OK, gemtui.outputs[-1][1]
    (received,) = emulator.openai_requests()
    assert (received["temperature"], received["top_p"], received["max_tokens"]) == (0.3, 0.5, 64)
    assert received["parts"] == ["text", "image_url", "text"]  # the file, the picture, then the prompt
