"""The log file: where tracebacks go instead of the terminal, private, bounded, and free of secrets."""

from __future__ import annotations

import logging
import stat

import pytest

from gemtui import log, paths

KEY = "AIzaSyD-this-is-not-a-real-key-0123456"
RELAY_TOKEN = "tok-very-secret-relay-9876"


@pytest.fixture
def logfile():
    path = log.setup()
    yield path
    log.stop()


def _fail(text: str) -> None:
    raise RuntimeError(text)


def test_setup_writes_to_the_state_dir_privately(logfile):
    assert logfile == paths.log_file()
    log.get_logger("tests").warning("something worth keeping")
    log.flush()
    assert "something worth keeping" in logfile.read_text()
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(logfile.parent.stat().st_mode) == 0o700


def test_get_logger_is_under_the_gemtui_tree():
    assert log.get_logger("gemtui.tui.app").name == "gemtui.tui.app"
    assert log.get_logger("tests.x").name == "gemtui.tests.x"


def test_message_and_traceback_are_scrubbed_of_registered_secrets(logfile):
    log.add_secrets(RELAY_TOKEN, None, "")
    try:
        _fail(f"refused key {KEY} at https://relay.example/{RELAY_TOKEN}/v1")
    except RuntimeError:
        log.get_logger("tests").exception("sending failed with %s", RELAY_TOKEN)
    log.flush()
    text = logfile.read_text()
    assert "Traceback (most recent call last)" in text and "_fail" in text
    assert KEY not in text and RELAY_TOKEN not in text
    assert RELAY_TOKEN in log.known_secrets()


def test_libraries_warnings_go_to_the_file_not_the_terminal(logfile, capfd):
    logging.getLogger("uvicorn.error").error("a library's complaint")
    logging.getLogger("some.library").info("chatter below warning is dropped")
    log.flush()
    text = logfile.read_text()
    assert "a library's complaint" in text and "chatter" not in text
    assert capfd.readouterr().err == ""


def test_the_file_rotates_at_a_small_cap_and_stays_private(logfile, monkeypatch):
    logger = log.get_logger("tests")
    line = "x" * 1000
    for _ in range(log.MAX_BYTES // 1000 + 50):
        logger.info(line)
    log.flush()
    rotated = logfile.with_name(logfile.name + ".1")
    assert rotated.exists() and logfile.stat().st_size < log.MAX_BYTES
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600


def test_a_runtime_registers_its_key(tmp_path):
    from gemtui.config import Config
    from gemtui.runtime import build_runtime

    build_runtime(
        profile_name="p",
        project="p",
        tier="free",
        api_key=KEY,
        endpoint=None,
        api_version=None,
        config=Config({}),
        ledger_path=tmp_path / "ledger.sqlite3",
    )
    assert KEY in log.known_secrets()


def test_the_cli_last_line_of_defence_logs_the_traceback_and_prints_one_line(monkeypatch, capsys):
    from gemtui import cli

    class Exploding:
        @staticmethod
        def add_parser(_subparsers):
            return None

        @staticmethod
        def run(_args):
            _fail(f"unexpected state with {KEY}")

    monkeypatch.setattr(cli, "load_command", lambda name: Exploding)
    try:
        code = cli.main([])
        err = capsys.readouterr().err
        text = paths.log_file().read_text()
    finally:
        log.stop()
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and str(paths.log_file()) in err
    assert "Traceback" not in err and KEY not in err
    assert "Traceback (most recent call last)" in text and "_fail" in text and KEY not in text


def test_an_unwritable_log_costs_the_file_not_the_screen(tmp_path, capfd):
    blocked = tmp_path / "gemtui.log"
    blocked.mkdir()  # a folder where the file should be: every open fails, even as root
    log.setup(path=blocked)
    try:
        log.get_logger("tests").error("cannot be written")
        log.flush()
    finally:
        log.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
