"""Generation settings: the ranges every entry point shares, the per-model rules, and the frozen value the
request (and a response cache's key) carries."""

from __future__ import annotations

import pytest

from gemtui.generation import (
    GenerationSettings,
    SettingError,
    check_for_model,
    check_for_route,
    parse,
    settings_from,
)


@pytest.mark.parametrize(
    "name,text,value",
    [
        ("temperature", "0", 0.0),
        ("temperature", "2", 2.0),
        ("temperature", "0.7", 0.7),
        ("top_p", "1", 1.0),
        ("top_p", "0.05", 0.05),
        ("max_output", "1", 1),
        ("max_output", "8_192", 8192),
        ("max_output", "65,536", 65536),
        ("thinking_budget", "-1", -1),
        ("thinking_budget", "0", 0),
        ("thinking_budget", "32768", 32768),
    ],
)
def test_values_in_range_are_taken(name, text, value):
    assert parse(name, text) == value


@pytest.mark.parametrize(
    "name,text,allowed",
    [
        ("temperature", "2.01", "a number from 0 to 2"),
        ("temperature", "-0.1", "a number from 0 to 2"),
        ("temperature", "nan", "a number from 0 to 2"),
        ("temperature", "hot", "a number from 0 to 2"),
        ("top_p", "1.01", "a number from 0 to 1"),
        ("max_output", "0", "a whole number of tokens from 1"),
        ("max_output", "1.5", "a whole number of tokens"),
        ("thinking_budget", "-2", "-1 (dynamic), 0 (off) or a whole number of tokens up to 32,768"),
        ("thinking_budget", "40000", "up to 32,768"),
    ],
)
def test_values_out_of_range_are_refused_in_one_line_with_the_range(name, text, allowed):
    with pytest.raises(SettingError) as refused:
        parse(name, text)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{name} ") and allowed in message


def test_model_rules_pro_cannot_turn_thinking_off():
    check_for_model("thinking_budget", 0, "gemini-2.5-flash")
    check_for_model("thinking_budget", -1, "gemini-2.5-pro")
    check_for_model("thinking_budget", 128, "gemini-3-pro-preview")
    for model in ("gemini-2.5-pro", "gemini-3-pro-preview"):
        with pytest.raises(SettingError, match="cannot turn thinking off\\): use -1 \\(dynamic\\) or 128–32,768"):
            check_for_model("thinking_budget", 0, model)
    with pytest.raises(SettingError, match="512–24,576"):
        check_for_model("thinking_budget", 100, "gemini-2.5-flash-lite")
    with pytest.raises(SettingError, match="does not think"):
        check_for_model("thinking_budget", 100, "gemini-2.0-flash")
    with pytest.raises(SettingError, match="use 1–65,536 \\(its output limit\\)"):
        check_for_model("max_output", 70000, "gemini-2.5-pro")
    check_for_model("max_output", 10**6, "some-other-model")  # an output limit we do not know: not capped


def test_for_model_brings_a_stored_value_to_what_the_model_takes():
    asked = GenerationSettings(temperature=0.5, max_output=20000, thinking_budget=0)
    assert asked.for_model("gemini-2.5-flash") == asked
    assert asked.for_model("gemini-2.5-pro").thinking_budget == 128
    assert asked.for_model("gemini-2.0-flash") == GenerationSettings(temperature=0.5, max_output=8192)
    assert GenerationSettings(thinking_budget=100).for_model("gemini-2.5-flash-lite").thinking_budget == 512
    assert GenerationSettings(thinking_budget=30000).for_model("gemini-2.5-flash").thinking_budget == 24576


def test_route_check_forced_refuses_auto_notes_the_adaptation():
    with pytest.raises(SettingError):
        check_for_route("thinking_budget", 0, ["gemini-2.5-pro"])
    note = check_for_route("thinking_budget", 0, ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"])
    assert note == "thinking_budget 0 is adapted where a model cannot take it: gemini-2.5-pro gets 128"
    assert check_for_route("temperature", 1.0, ["gemini-2.5-pro", "gemini-2.5-flash"]) == ""


def test_canonical_json_round_trip_and_layering():
    own = GenerationSettings(thinking_budget=0, temperature=0.2)
    assert own.canonical() == {"temperature": 0.2, "thinking_budget": 0}
    assert list(own.canonical()) == ["temperature", "thinking_budget"]  # a fixed order: stable cache keys
    assert GenerationSettings.from_json(own.to_json()) == own
    assert GenerationSettings().to_json() is None
    defaults = GenerationSettings(temperature=1.0, top_p=0.9)
    assert own.over(defaults) == GenerationSettings(temperature=0.2, top_p=0.9, thinking_budget=0)
    # a stored value no longer allowed is dropped (its default used), never sent
    assert GenerationSettings.from_json('{"temperature": 9, "top_p": 0.5}') == GenerationSettings(top_p=0.5)
    assert GenerationSettings.from_json("not json") == GenerationSettings()
    with pytest.raises(SettingError, match="no setting 'topk'"):
        settings_from({"topk": 3})
    with pytest.raises(SettingError):
        settings_from({"temperature": True})  # TOML true is not a number


def test_generation_config_the_sdk_sends():
    from gemtui.gemini.client import build_config

    config = build_config(
        "sys", None, GenerationSettings(temperature=0.3, top_p=0.8, max_output=50, thinking_budget=-1)
    )
    assert (config.temperature, config.top_p, config.max_output_tokens) == (0.3, 0.8, 50)
    assert config.thinking_config.thinking_budget == -1 and config.system_instruction == "sys"
    assert build_config(None, None, GenerationSettings()) is None  # nothing set: nothing sent
