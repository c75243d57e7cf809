"""`gemtui ask` as a script sees it: the answer on stdout, one line on stderr, a status per failure class."""

from __future__ import annotations

import io
import json
import os

import pytest

from gemtui import exitcodes
from gemtui.cli import main


@pytest.fixture
def run(emulator, monkeypatch, capsys):
    def invoke(*argv: str, key: str | None = "key-c", stdin: str | None = None, endpoint: bool = True):
        if key:
            monkeypatch.setenv("GEMINI_API_KEY", key)
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        args = ["ask", *argv] + (["--endpoint", emulator.base_url] if endpoint else [])
        code = main(args)
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out
        return code, out, err

    return invoke


def test_answer_streams_to_stdout(run):
    code, out, err = run("say something [[tokens=30]]", "--model", "flash")
    assert code == exitcodes.EXIT_OK and len(out.split()) >= 10 and err == ""


def test_prompt_from_stdin(run):
    code, out, _ = run("--model", "flash", stdin="from a pipe [[tokens=10]]\n")
    assert code == 0 and out.strip()


@pytest.mark.parametrize(
    "argv,key,status,words",
    [
        (["hi", "--model", "flash"], "wrong-key", exitcodes.EXIT_AUTH, "key was refused"),
        (["hi", "--model", "gemini-9-ultra"], "key-c", exitcodes.EXIT_NOT_FOUND, "not found"),
        (["   "], "key-c", exitcodes.EXIT_USAGE, "empty"),
        (["hi"], None, exitcodes.EXIT_AUTH, "GEMINI_API_KEY"),
    ],
)
def test_failures_are_one_line_with_their_status(run, argv, key, status, words):
    code, _, err = run(*argv, key=key)
    assert code == status
    assert len(err.strip().splitlines()) == 1 and words in err
    assert "wrong-key" not in err


def test_unreachable_endpoint(run):
    code, _, err = run("hi", "--endpoint", "http://127.0.0.1:9", endpoint=False)
    assert code == exitcodes.EXIT_UNREACHABLE and "cannot reach" in err and len(err.strip().splitlines()) == 1


def test_plain_http_to_a_remote_host_is_refused(run):
    code, _, err = run("hi", "--endpoint", "http://relay.example.com/v", endpoint=False)
    assert code == exitcodes.EXIT_USAGE and "http" in err


def test_relay_html_502_page_is_transient_and_retried(run, emulator):
    emulator.set_fault("html_page", count=1)  # a relay's nginx "502 Bad Gateway": its upstream hiccuped
    code, out, err = run("hi", "--model", "flash")
    assert code == exitcodes.EXIT_OK and out.strip()
    (line,) = err.strip().splitlines()
    assert "502" in line and "Bad Gateway" in line and "retrying gemini-2.5-flash" in line
    assert "not the Gemini API" not in line


def test_a_success_status_with_no_answer_in_it_is_a_wrong_endpoint_not_an_empty_answer(run, emulator, tmp_path):
    """Another service behind the URL answering 200 with its own JSON gave an empty answer, exit 0, and a
    batch line marked answered that no rerun would send again."""
    emulator.set_fault("foreign_json", count=1)
    code, out, err = run("hi", "--model", "flash")
    assert code == exitcodes.EXIT_UNREACHABLE and out == ""
    (line,) = err.strip().splitlines()
    assert "without any part of an answer" in line

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("first\n", encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    emulator.set_fault("foreign_json", count=1)
    run("--batch", str(prompts), "--out", str(answers), "--model", "flash")
    assert os.stat(answers).st_mode & 0o777 == 0o600  # answers are private, like every file gemtui makes
    (record,) = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    assert record["error"] and "without any part of an answer" in record["error"]
    code, _, _ = run("--batch", str(prompts), "--out", str(answers), "--model", "flash")  # resumed: sent now
    assert code == exitcodes.EXIT_OK
    last = json.loads(answers.read_text(encoding="utf-8").splitlines()[-1])
    assert last["text"] and not last["error"]


@pytest.mark.parametrize("fault", ["cut_stream", "stream_error"])
def test_a_broken_stream_keeps_the_partial_answer(run, emulator, fault):
    emulator.set_fault(fault, count=1, after_chunks=3)
    code, out, err = run("long answer [[tokens=400]]", "--model", "flash")
    assert code == exitcodes.EXIT_SERVER
    assert out.strip(), "the partial answer stays printed"
    assert len(err.strip().splitlines()) == 1


def test_demo_needs_no_key(capsys):
    assert main(["ask", "--demo", "hello [[tokens=10]]", "--model", "flash"]) == 0
    assert capsys.readouterr().out.strip()


def test_session_continues_a_conversation(run):
    from gemtui.chat.sessions import SessionStore

    assert run("first [[tokens=10]]", "--model", "flash", "--session", "notes")[0] == 0
    assert run("second [[tokens=10]]", "--model", "flash", "--session", "notes")[0] == 0
    store = SessionStore()
    conversation = store.find("notes")
    messages = store.messages(conversation.id)
    assert [m.role for m in messages] == ["user", "model", "user", "model"]
    assert all(m.model == "gemini-2.5-flash" and m.input_tokens for m in messages if m.role == "model")
    assert messages[3].input_tokens > messages[1].input_tokens, "the history went with the second question"
    import json

    from gemtui import paths

    windows = json.loads((paths.cache_dir() / "model-windows.json").read_text())
    assert windows["gemini-2.5-flash"] > 0, "the context window came from models.get"


@pytest.mark.parametrize("argv", [["ask", "hi"], ["quota"], ["ask", "--batch", "x.txt"]])
def test_a_corrupt_config_file_is_one_line_and_left_untouched(argv, capsys):
    from gemtui import paths

    broken = "[general\ntier = 'free'\n"
    paths.config_file().write_text(broken)
    assert main(argv) == exitcodes.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not valid TOML" in err and "Traceback" not in err
    assert paths.config_file().read_text() == broken, "nothing is lost"
