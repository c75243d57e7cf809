"""Stopping the emulator (quitting `--demo`) while an answer still streams is silent: no server
traceback on the terminal or in the log, the way a user quitting mid-answer expects."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from gemtui.emulator import Emulator


def _stream_until_stopped(emulator: Emulator, first_chunk: threading.Event) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "a long answer please"}]}]}
    req = urllib.request.Request(
        emulator.base_url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"x-goog-api-key": "k", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            resp.read1(64)
            first_chunk.set()
            while resp.read1(1024):
                pass
    except Exception:  # the connection ends with the server: expected
        pass
    finally:
        first_chunk.set()


def test_stopping_with_a_stream_open_logs_and_prints_nothing(caplog, capfd):
    emulator = Emulator(keys={"k": "p"}, ttft_s=0.01, tokens_per_s=5)  # minutes of answer
    emulator.start()
    first_chunk = threading.Event()
    client = threading.Thread(target=_stream_until_stopped, args=(emulator, first_chunk), daemon=True)
    client.start()
    assert first_chunk.wait(10)
    with caplog.at_level(logging.INFO):
        emulator.stop()
    client.join(10)
    complaints = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert complaints == [], [r.getMessage() for r in complaints]
    assert "Traceback" not in capfd.readouterr().err


def test_a_restarted_emulator_still_logs_its_errors(caplog):
    """The filter only silences a server being stopped, not the next one on a reused thread id."""
    emulator = Emulator(keys={"k": "p"})
    emulator.start()
    emulator.stop()
    emulator = Emulator(keys={"k": "p"})
    emulator.start()
    try:
        ident = emulator._thread.ident
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "real trouble", None, None)
        record.thread = ident
        with caplog.at_level(logging.INFO):
            logging.getLogger("uvicorn.error").handle(record)
        assert [r.getMessage() for r in caplog.records] == ["real trouble"]
    finally:
        emulator.stop()
