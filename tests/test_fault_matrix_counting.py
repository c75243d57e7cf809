"""The fault matrix, counting and full-disk rows: the ledger never counts fewer requests than the server did,
bare 429s back off as documented, and a full disk never cuts an answer that streamed fine.

The emulator is the referee: its `accepted` counter is what the server counted. The ledger may count more (a
5xx or a bare 429 that the server did not count: nothing in its answer proves that), never fewer.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gemtui import diskfull, exitcodes
from gemtui.chat.sender import Failed, Finished, Request, Retrying, send
from gemtui.chat.sessions import SessionStore
from gemtui.cli import main
from gemtui.gemini.client import make_client
from gemtui.quota.ledger import SqliteLedger
from gemtui.turns import Turn
from tests.fixtures_e2e import collect

FLASH = "gemini-2.5-flash"
PROJECT = "proj-shared"
BIG = "a long answer [[tokens=20000]]"  # about 80 KB of text: more than the full disk below can keep
LONG = "a longer answer than one read [[tokens=4000]]"  # about 16 KB


def ledger_states(path: Path, model: str = FLASH) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT state, COUNT(*) FROM requests WHERE model = ? GROUP BY state", (model,))
        return dict(rows.fetchall())


def accepted(emulator, model: str = FLASH, project: str = PROJECT) -> int:
    return emulator.counters().get(project, {}).get(model, {}).get("accepted", 0)


async def settle_slow_requests(emulator, expected: int) -> None:
    """A timed-out request is answered (and counted) by the server after the client stopped listening."""
    import asyncio

    for _ in range(100):
        if accepted(emulator) >= expected:
            return
        await asyncio.sleep(0.05)


# ---- counting: what the server may have counted is counted --------------------------------------------

# fault, its arguments, what the server counts, what the ledger commits (forced Flash retries to an answer)
CASES = {
    "cut before the first chunk": ("cut_stream", {"after_chunks": 0}, 2, 2),
    "error event before any text": ("stream_error", {"after_chunks": 0}, 2, 2),
    "client timeout": ("slow_first_byte", {"seconds": 1.0}, 2, 2),
    "503 overloaded": ("overloaded", {}, 1, 2),
    "500 internal": ("internal", {}, 1, 2),
    "bare 429": ("bare_429", {}, 1, 2),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_ledger_never_counts_fewer_requests_than_the_server(emulator, engine_factory, tmp_path, case):
    fault, options, server_counts, ledger_counts = CASES[case]
    engine = engine_factory()
    client = make_client("key-a", emulator.base_url, timeout_s=0.3 if fault == "slow_first_byte" else 30.0)
    emulator.set_fault(fault, count=1, model=FLASH, **options)
    request = Request(turns=[Turn("user", "hello [[tokens=40]]")], preference="flash")
    events = await collect(send(request, engine=engine, client=client, project=PROJECT))
    assert isinstance(events[-1], Finished), events[-1]
    await settle_slow_requests(emulator, server_counts)
    states = ledger_states(tmp_path / "ledger.sqlite3")
    assert accepted(emulator) == server_counts
    assert states == {"committed": ledger_counts}, "every attempt that left is committed, none left reserved"
    assert states["committed"] >= accepted(emulator)


async def test_a_request_cancelled_before_its_first_chunk_stays_counted(emulator, engine_factory, tmp_path):
    """Ctrl-C or Esc while the server has the request but has not answered yet: it counts it, so must we."""
    import asyncio

    engine = engine_factory()
    client = make_client("key-a", emulator.base_url)
    emulator.set_fault("slow_first_byte", count=1, model=FLASH, seconds=1.0)
    request = Request(turns=[Turn("user", "hello [[tokens=40]]")], preference="flash")
    task = asyncio.ensure_future(collect(send(request, engine=engine, client=client, project=PROJECT)))
    for _ in range(200):
        if any(r["method"] != "countTokens" for r in emulator.requests()):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle_slow_requests(emulator, 1)
    assert accepted(emulator) == 1
    assert ledger_states(tmp_path / "ledger.sqlite3") == {"committed": 1}


async def test_a_request_that_never_left_is_released(emulator, engine_factory, tmp_path):
    engine = engine_factory()
    dead = make_client("key-a", "http://127.0.0.1:9")  # connection refused: no byte left the machine
    events = await collect(
        send(Request([Turn("user", "hello")], preference="flash"), engine=engine, client=dead, project=PROJECT)
    )
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == "unreachable"
    assert ledger_states(tmp_path / "ledger.sqlite3") == {"released": 1}


@pytest.mark.parametrize("key,model,kind", [("not-a-key", FLASH, "auth"), ("key-a", "gemini-9-ultra", "not_found")])
async def test_a_refusal_before_processing_is_released(emulator, engine_factory, tmp_path, key, model, kind):
    engine = engine_factory()
    events = await collect(
        send(
            Request([Turn("user", "hello")], preference=model),
            engine=engine,
            client=make_client(key, emulator.base_url),
            project=PROJECT,
        )
    )
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == kind
    assert ledger_states(tmp_path / "ledger.sqlite3", model) == {"released": 1}


async def test_a_quota_429_is_released_and_the_retry_committed(emulator, engine_factory, tmp_path):
    emulator.add_invisible_usage(PROJECT, FLASH, requests=15)  # another client filled Flash's minute
    engine = engine_factory()
    events = await collect(
        send(
            Request([Turn("user", "hello")], preference="flash"),
            engine=engine,
            client=make_client("key-a", emulator.base_url),
            project=PROJECT,
        )
    )
    assert isinstance(events[-1], Finished)
    assert ledger_states(tmp_path / "ledger.sqlite3") == {"released": 1, "committed": 1}
    assert accepted(emulator) == 1


# ---- bare 429s: their own backoff --------------------------------------------------------------------


async def test_bare_429s_back_off_from_two_seconds_doubling(emulator, engine_factory, shared_clock):
    engine = engine_factory(random=lambda: 0.5)  # the middle of every full-jitter draw
    emulator.set_fault("bare_429", count=3, model=FLASH)
    started = shared_clock.now()
    events = await collect(
        send(
            Request([Turn("user", "hello")], preference="flash"),
            engine=engine,
            client=make_client("key-a", emulator.base_url),
            project=PROJECT,
        )
    )
    waits = [e.until for e in events if isinstance(e, Retrying)]
    assert [round(b - a, 3) for a, b in zip([started, *waits], waits, strict=False)] == [1.0, 2.0, 4.0]
    assert all("429" in e.reason and "quota unchanged" in e.reason for e in events if isinstance(e, Retrying))
    assert isinstance(events[-1], Finished)


async def test_bare_429s_are_capped_at_sixty_seconds_and_end_after_eight(emulator, engine_factory):
    engine = engine_factory(random=lambda: 0.999)
    for _ in range(7):
        verdict = engine.on_rate_limited(PROJECT, "gemini-9-test", _bare(), None)
        assert verdict.not_before - engine.clock.now() <= 60.0
    assert not engine.on_rate_limited(PROJECT, "gemini-9-test", _bare(), None).retry, "the eighth gives up"


def _bare():
    from gemtui.quota.signals import QuotaHit

    return QuotaHit(violations=(), retry_delay_s=None)


# ---- a full disk never cuts what is printed -----------------------------------------------------------


def _gemtui(emulator, *argv: str, stdout=subprocess.PIPE, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEMINI_API_KEY": "key-c", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gemtui", "ask", "--endpoint", emulator.base_url, *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        timeout=60,
        check=False,
    )


def _reference_answer(emulator, tmp_path: Path, prompt: str) -> bytes:
    """The same prompt answered on a roomy disk (the emulator's text depends only on the prompt)."""
    roomy = tmp_path / "roomy"
    env = {f"XDG_{kind}_HOME": str(roomy / kind) for kind in ("DATA", "STATE", "CACHE", "CONFIG")}
    done = _gemtui(emulator, "--model", "flash", prompt, env=env)
    assert done.returncode == 0 and len(done.stdout) > 10_000
    return done.stdout


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


FULL_DISK_SCRIPT = """
set -u
mount -t tmpfs -o size=512k tmpfs "$FULL" || exit 99
export XDG_DATA_HOME="$FULL/data" XDG_STATE_HOME="$FULL/state" XDG_CACHE_HOME="$FULL/cache"
"$PY" -m gemtui ask --endpoint "$URL" --session s --model flash "warm up [[tokens=10]]" >/dev/null 2>&1 || exit 98
dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
truncate -s -128K "$FULL/filler"    # room to open the stores and reserve, not to keep an 80 KB answer
"$PY" -m gemtui ask --endpoint "$URL" --session s --model flash "$PROMPT" >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/status"
cp "$FULL/data/gemtui/"ledger.sqlite3* "$OUT/"  # its WAL too: a full disk may keep it from being checkpointed
"""


@pytest.mark.skipif(
    not _can_mount_tmpfs(),
    reason="no tmpfs in a user namespace here; the injected ENOSPC test below covers the same path",
)
def test_a_really_full_disk_keeps_the_whole_answer_on_stdout(emulator, tmp_path):
    expected = _reference_answer(emulator, tmp_path, BIG)
    full, out = tmp_path / "full", tmp_path / "out"
    full.mkdir()
    out.mkdir()
    env = {
        **os.environ,
        "GEMINI_API_KEY": "key-c",
        "FULL": str(full),
        "OUT": str(out),
        "PY": sys.executable,
        "URL": emulator.base_url,
        "PROMPT": BIG,
    }
    subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK_SCRIPT], env=env, timeout=120, check=True)
    status = int((out / "status").read_text())
    stderr = (out / "stderr").read_text()
    assert (out / "stdout").read_bytes() == expected, "the stream was fine: every byte of it is printed"
    assert status == exitcodes.EXIT_NOT_SAVED
    (line,) = stderr.splitlines()
    assert line.startswith("gemtui: could not save ") and 'the conversation "s" (sessions.sqlite3)' in line
    assert line.endswith(": disk full; the answer above is complete")
    assert "Traceback" not in stderr
    assert ledger_states(out / "ledger.sqlite3") == {"committed": 2}, "settled: the request was sent"


def test_an_injected_full_disk_keeps_the_whole_answer_on_stdout(emulator, tmp_path, monkeypatch, capsys):
    expected = _reference_answer(emulator, tmp_path, LONG).decode()
    commits = 0
    real_commit = SqliteLedger.commit

    def commit_until_full(self, *args, **kwargs):
        nonlocal commits
        commits += 1
        if commits > 1:  # the first chunk's booking lands; the final reconciliation finds the disk full
            raise sqlite3.OperationalError("database or disk is full")
        return real_commit(self, *args, **kwargs)

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SqliteLedger, "commit", commit_until_full)
    monkeypatch.setattr(SessionStore, "update_message", no_space)
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    status = main(["ask", "--endpoint", emulator.base_url, "--session", "s", "--model", "flash", LONG])
    out, err = capsys.readouterr()
    assert out == expected
    assert status == exitcodes.EXIT_NOT_SAVED
    (line,) = err.splitlines()
    assert line == (
        'gemtui: could not save the conversation "s" (sessions.sqlite3), the quota ledger '
        "(ledger.sqlite3): disk full; the answer above is complete"
    )
    data = Path(os.environ["XDG_DATA_HOME"]) / "gemtui"
    assert ledger_states(data / "ledger.sqlite3") == {"committed": 1}
    assert accepted(emulator, project="proj-other") == 2, "the reference answer and this one"
    diskfull.clear()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device whose every write is ENOSPC)")
def test_a_full_stdout_is_one_line_and_the_request_stays_booked(emulator):
    with open("/dev/full", "wb") as full:
        done = _gemtui(emulator, "--model", "flash", LONG, stdout=full)
    stderr = done.stderr.decode()
    assert done.returncode == exitcodes.EXIT_OUTPUT
    assert stderr == "gemtui: could not write the answer to stdout (disk full); the output is incomplete\n"
    data = Path(os.environ["XDG_DATA_HOME"]) / "gemtui"
    assert ledger_states(data / "ledger.sqlite3") == {"committed": 1}
    assert accepted(emulator, project="proj-other") == 1


def test_a_ledger_too_full_to_reserve_sends_nothing_and_says_so(emulator, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteLedger, "reserve", full)
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    status = main(["ask", "--endpoint", emulator.base_url, "--model", "flash", "hello"])
    out, err = capsys.readouterr()
    assert status == exitcodes.EXIT_NOT_SAVED and out == ""
    assert err == "gemtui: could not save the quota ledger (ledger.sqlite3): disk full; nothing was sent\n"
    assert accepted(emulator, project="proj-other") == 0, "no reservation, no request"
    diskfull.clear()


def test_a_ledger_too_full_to_open_is_one_line_with_the_same_status(emulator, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteLedger, "__init__", full)
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    status = main(["ask", "--endpoint", emulator.base_url, "--model", "flash", "hello"])
    out, err = capsys.readouterr()
    assert status == exitcodes.EXIT_NOT_SAVED and out == ""
    assert err == "gemtui: could not write to gemtui's data folder: disk full\n"
