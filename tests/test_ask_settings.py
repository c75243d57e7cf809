"""`gemtui ask` generation flags and `[generation]` defaults, end to end against the emulator through the
real SDK: what the request's generation config carried, refusals with the range, and `--session` storing
them so the next turn (and the TUI's --resume) asks the same."""

from __future__ import annotations

import json
import re

import pytest

from gemtui import exitcodes, paths
from gemtui.chat.sessions import SessionStore
from gemtui.cli import main
from gemtui.quota.limits import FLASH, PRO


@pytest.fixture
def run(emulator, monkeypatch, capsys):
    def invoke(*argv: str):
        monkeypatch.setenv("GEMINI_API_KEY", "key-c")
        code = main(["ask", *argv, "--endpoint", emulator.base_url])
        out, err = capsys.readouterr()
        assert "Traceback" not in err + out
        return code, out, err

    return invoke


def test_flags_reach_the_generation_config_and_verbose_shows_thinking(run, emulator):
    code, out, err = run(
        "hello [[tokens=20]]",
        "--model",
        "flash",
        "--temperature",
        "0.2",
        "--top-p",
        "0.5",
        "--max-output",
        "300",
        "--thinking-budget",
        "64",
        "--system",
        "be brief",
        "-v",
    )
    assert code == exitcodes.EXIT_OK and out.strip()
    assert emulator.generation_log()[-1] == {
        "model": FLASH,
        "systemInstruction": "be brief",
        "temperature": 0.2,
        "topP": 0.5,
        "maxOutputTokens": 300,
        "thinkingBudget": 64,
    }
    # one usage line on stderr: thinking tokens within the budget
    (line,) = err.strip().splitlines()
    assert line.startswith(f"gemtui: {FLASH} · ")
    thinking = int(re.search(r"/ (\d+) thinking tokens", line).group(1))
    assert 0 < thinking <= 64


def test_nothing_set_sends_no_generation_settings(run, emulator):
    assert run("hello", "--model", "flash")[0] == exitcodes.EXIT_OK
    sent = emulator.generation_log()[-1]
    assert (sent["temperature"], sent["topP"], sent["maxOutputTokens"], sent["thinkingBudget"]) == (None,) * 4


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--temperature", "3"], "temperature 3 is not allowed: use a number from 0 to 2"),
        (["--top-p", "1.5"], "top_p 1.5 is not allowed: use a number from 0 to 1"),
        (["--top-p", "lots"], "top_p 'lots' is not allowed: use a number from 0 to 1"),
        (["--max-output", "0"], "max_output 0 is not allowed: use a whole number of tokens from 1"),
        (["--thinking-budget", "-2"], "thinking_budget -2 is not allowed: use -1 (dynamic), 0 (off)"),
        (
            ["--thinking-budget", "0", "--model", "pro"],
            f"thinking_budget 0 is not allowed for {PRO} ({PRO} cannot turn thinking off): "
            "use -1 (dynamic) or 128–32,768",
        ),
        (["--thinking-budget", "100", "--model", "lite"], "use -1 (dynamic), 0 (off) or 512–24,576"),
        (["--max-output", "9000", "--model", "gemini-2.0-flash"], "use 1–8,192 (its output limit)"),
    ],
)
def test_invalid_values_are_refused_with_the_range_before_sending(run, emulator, argv, words):
    before = len(emulator.generation_log())
    code, out, err = run("hello", *argv)
    assert code == exitcodes.EXIT_USAGE and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    assert len(emulator.generation_log()) == before  # nothing was sent


def test_config_defaults_and_flags_over_them(run, emulator):
    paths.config_file().write_text("[generation]\ntemperature = 0.7\nmax_output = 500\n", encoding="utf-8")
    assert run("hello", "--model", "flash", "--max-output", "200")[0] == exitcodes.EXIT_OK
    sent = emulator.generation_log()[-1]
    assert (sent["temperature"], sent["maxOutputTokens"]) == (0.7, 200)


def test_bad_config_value_is_one_line_naming_file_and_range(run):
    paths.config_file().write_text("[generation]\ntop_p = 2\n", encoding="utf-8")
    code, _, err = run("hello")
    assert code != exitcodes.EXIT_OK
    assert "[generation] top_p 2 is not allowed: use a number from 0 to 1" in err
    assert str(paths.config_file()) in err


def test_session_stores_the_flags_and_the_answers_thinking_tokens(run, emulator):
    assert (
        run("first", "--session", "s1", "--model", "flash", "--temperature", "0.4", "--thinking-budget", "32")[0]
        == exitcodes.EXIT_OK
    )
    assert run("second", "--session", "s1", "--model", "flash")[0] == exitcodes.EXIT_OK
    sent = emulator.generation_log()[-1]
    assert (sent["temperature"], sent["thinkingBudget"]) == (0.4, 32)  # stored with the session
    store = SessionStore()
    conv = store.find("s1")
    assert conv.settings.canonical() == {"temperature": 0.4, "thinking_budget": 32}
    answers = [m for m in store.messages(conv.id) if m.role == "model"]
    assert [m.thoughts_tokens for m in answers] == [32, 32]
    assert "32 thinking" in store.export_markdown(conv.id)


def test_auto_mode_adapts_a_budget_pro_cannot_take(run, emulator):
    code, _, _ = run("hello", "--thinking-budget", "0")
    assert code == exitcodes.EXIT_OK
    sent = emulator.generation_log()[-1]
    assert sent["model"] == PRO and sent["thinkingBudget"] == 128  # never the 400 Pro answers to 0


def test_batch_jsonl_carries_thinking_tokens(run, emulator, tmp_path):
    batch = tmp_path / "b.txt"
    batch.write_text("one\ntwo\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert (
        run(
            "--batch", str(batch), "--out", str(out), "--model", "flash", "--thinking-budget", "0", "--temperature", "1"
        )[0]
        == exitcodes.EXIT_OK
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["thoughts_tokens"] for line in lines] == [None, None]  # budget 0: Flash did not think
    assert {(e["temperature"], e["thinkingBudget"]) for e in emulator.generation_log()} == {(1.0, 0)}


def test_a_batch_records_its_generation_settings_for_queue_resume():
    import argparse

    from gemtui.commands._batch import recorded_options

    args = argparse.Namespace(
        model="flash",
        system=None,
        max_output_tokens=300,
        temperature=0.2,
        top_p=None,
        thinking_budget=0,
        on_limit=None,
        wait_threshold=None,
        profile=None,
        api_version=None,
    )
    options = recorded_options(args)
    assert (options["temperature"], options["thinking_budget"], options["max_output_tokens"]) == (0.2, 0, 300)
    assert "top_p" not in options
