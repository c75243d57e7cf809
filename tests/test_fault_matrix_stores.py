"""Fault matrix of the stores: each sqlite store (sessions, queue, ledger) damaged three ways — garbage over
the header, a damaged page in the middle, a wrong schema — then used through the CLI and the TUI. Each time:
one line naming the file and where the old one went, the command works, nothing else is lost."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import stat

import pytest

from gemtui import paths
from gemtui.chat.queue import RequestQueue
from gemtui.chat.sessions import SessionStore
from gemtui.cli import main
from gemtui.quota.ledger import SqliteLedger
from tests.clocks import FakeClock

STORES = ("sessions", "queue", "ledger")
DAMAGES = ("header", "page", "schema")
PAGE = 4096
NOW = 1_767_225_600.0
NOW_MS = round(NOW * 1000)


def store_file(name: str):
    return {"sessions": paths.sessions_file, "queue": paths.queue_file, "ledger": paths.ledger_file}[name]()


def fill(name: str) -> None:
    """Enough rows that the file has many pages (a damaged page in the middle is then a real page)."""
    path = store_file(name)
    if name == "sessions":
        with SessionStore(path) as store:
            conv = store.create(title="old", name="old-notes")
            for i in range(200):
                store.append(conv.id, "user", f"note {i} " + "lorem ipsum " * 30)
    elif name == "queue":
        queue = RequestQueue(path)
        for i in range(200):
            queue.add(None, f"waiting {i} " + "lorem ipsum " * 30)
        queue.close()
    else:
        ledger = SqliteLedger(path, FakeClock(NOW))
        ledger.close()
        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO requests VALUES (?, 'p', 'm', ?, 10, 0, 'committed')",
                [(f"r{i}-" + "x" * 200, NOW_MS - 1000 * i) for i in range(600)],
            )
        conn.close()


def damage(name: str, how: str) -> bytes:
    """Damage the store's file as `how` says; returns the bytes left in it (what must be kept aside)."""
    path = store_file(name)
    fill(name)
    gc.collect()  # connections an earlier in-process command left to the collector
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    if how == "header":
        data[:100] = os.urandom(100)
    elif how == "page":
        assert len(data) > 6 * PAGE
        for offset in range(2 * PAGE, len(data) - PAGE, 3 * PAGE):
            data[offset + 8 : offset + 208] = b"\xff" * 200
    else:  # a database, but not this store's: its main table lacks columns gemtui needs
        path.unlink()
        table = {"sessions": "messages", "queue": "queue", "ledger": "requests"}[name]
        with sqlite3.connect(path) as conn:
            conn.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, note TEXT)")
            conn.execute(f"INSERT INTO {table} VALUES ('keep', 'me')")
        conn.close()
        return path.read_bytes()
    path.write_bytes(bytes(data))
    return bytes(data)


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "moved it to" in line]


def check_one_line(err: str, name: str, old: bytes) -> None:
    path = store_file(name)
    lines = warning_lines(err)
    assert len(lines) == 1, err
    (aside,) = path.parent.glob(path.name + ".corrupt-*")
    assert str(path) in lines[0] and str(aside) in lines[0]
    assert aside.read_bytes() == old, "the damaged file is kept aside as it was"
    for other in STORES:  # nothing else moved
        if other != name:
            other_path = store_file(other)
            assert not list(other_path.parent.glob(other_path.name + ".corrupt-*"))


@pytest.fixture
def ask(emulator, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")

    def invoke(*argv: str):
        code = main(["ask", *argv, "--endpoint", emulator.base_url, "--model", "flash"])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return invoke


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_sessions_file_is_told_and_ask_session_works(ask, how):
    assert ask("first [[tokens=5]]", "--session", "notes")[0] == 0
    old = damage("sessions", how)
    code, out, err = ask("again [[tokens=5]]", "--session", "notes")
    assert code == 0 and out.strip()
    check_one_line(err, "sessions", old)
    with SessionStore() as store:
        messages = store.messages(store.find("notes").id)
    assert [m.role for m in messages] == ["user", "model"]
    code, _, err = ask("third [[tokens=5]]", "--session", "notes")
    assert code == 0 and not warning_lines(err), "told once: the new file is healthy"


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_queue_no_longer_stops_batches(ask, tmp_path, how):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"question {n} [[tokens=5]]" for n in range(3)))
    old = damage("queue", how)
    out_file = tmp_path / "out.jsonl"
    code, _, err = ask("--batch", str(prompts), "--out", str(out_file))
    assert code == 0, err
    check_one_line(err, "queue", old)
    results = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert sorted(r["index"] for r in results) == [0, 1, 2] and not any(r["error"] for r in results)


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_ledger_is_told_and_every_command_works(ask, emulator, capsys, how):
    assert ask("first [[tokens=5]]", "--session", "keep")[0] == 0
    old = damage("ledger", how)
    code, out, err = ask("again [[tokens=5]]")
    assert code == 0 and out.strip()
    check_one_line(err, "ledger", old)
    assert main(["quota", "--endpoint", emulator.base_url, "--json"]) == 0
    out, err = capsys.readouterr()
    assert not warning_lines(err) and json.loads(out)
    with SessionStore() as store:  # nothing else lost
        assert len(store.messages(store.find("keep").id)) == 2


def test_the_ledger_without_a_project_column_no_longer_stops_every_command(ask):
    path = paths.ledger_file()
    with sqlite3.connect(path) as conn:  # the case from the field: `no such column: project`
        conn.execute(
            "CREATE TABLE requests (id TEXT PRIMARY KEY, model TEXT, ts_ms INTEGER, tokens INTEGER, "
            "images INTEGER, state TEXT)"
        )
    conn.close()
    code, out, err = ask("hello [[tokens=5]]")
    assert code == 0 and out.strip()
    (line,) = warning_lines(err)
    assert str(path) in line and "project" in line


# ---- corruption met after opening ----------------------------------------------------------------


def _damage_open_file(path) -> None:
    """Scribble over pages of a file another connection has open (as a failing disk or a stray write
    would), after moving its WAL into it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    for offset in range(PAGE, len(data), PAGE):  # every page but the first (the schema)
        data[offset + 8 : offset + 508] = b"\xff" * 500
    with open(path, "r+b") as handle:
        handle.write(bytes(data))


def test_corruption_met_by_a_queue_statement_heals_like_at_opening(capsys):
    fill("queue")
    queue = RequestQueue()
    assert len(queue.items()) == 200 and queue.warnings == []
    _damage_open_file(queue.path)
    queue._store.conn.execute("PRAGMA shrink_memory")  # read the pages from the file again
    assert queue.get(150) is None
    assert len(queue.warnings) == 1 and "moved it to" in queue.warnings[0]
    assert queue.add(None, "after").prompt == "after"
    assert [i.prompt for i in RequestQueue().items()] == ["after"]


def test_corruption_met_by_a_session_write_heals_and_the_write_lands():
    fill("sessions")
    with SessionStore() as store:
        conv = store.find("old-notes")
        _damage_open_file(store.path)
        store._conn.execute("PRAGMA shrink_memory")
        fresh = store.create(name="fresh")  # the transaction meets corruption, the store heals, create runs again
        store.append(fresh.id, "user", "kept")
        assert len(store.warnings) == 1 and str(store.path) in store.warnings[0]
        assert store.find("old-notes") is None and conv is not None
        assert [m.text for m in store.messages(fresh.id)] == ["kept"]


def test_corruption_met_by_a_ledger_reservation_heals_and_counts():
    from gemtui.quota.engine import QuotaEngine

    fill("ledger")
    engine = QuotaEngine(clock=FakeClock(NOW), ledger_path=paths.ledger_file())
    _damage_open_file(paths.ledger_file())
    engine.ledger._conn.execute("PRAGMA shrink_memory")
    admission = engine.try_reserve("p", "flash")
    assert admission.granted
    assert len(engine.warnings) == 1 and "usage counts restart" in engine.warnings[0]
    assert engine.gauges("p", ["flash"])["gemini-2.5-flash"]["rpm"].used == 1
    engine.close()


# ---- a newer gemtui's file ----------------------------------------------------------------------------


def test_a_newer_compatible_file_is_left_alone_and_an_incompatible_one_moved_aside():
    path = paths.queue_file()
    queue = RequestQueue(path)
    queue.add(None, "from a newer gemtui")
    queue.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.execute("ALTER TABLE queue ADD COLUMN something_new TEXT")
    conn.close()
    again = RequestQueue(path)
    assert again.warnings == [] and [i.prompt for i in again.items()] == ["from a newer gemtui"]
    again.close()
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, prompt TEXT)")
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    third = RequestQueue(path)
    assert len(third.warnings) == 1 and "newer gemtui" in third.warnings[0]
    assert third.add(None, "fresh").prompt == "fresh"


# ---- permissions ---------------------------------------------------------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_every_file_gemtui_writes_is_private(ask, isolated_dirs, usual_umask):
    from gemtui.config import update_config

    data = isolated_dirs / "data" / "gemtui"
    data.mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)  # as an older gemtui left it
    update_config(lambda doc: doc.update({"model": "flash"}))
    assert ask("hello [[tokens=5]]", "--session", "notes")[0] == 0
    queue = RequestQueue()
    queue.add(None, "x")
    files = [paths.config_file(), paths.sessions_file(), paths.ledger_file(), paths.queue_file()]
    files += [
        f.with_name(f.name + side)
        for f in files[1:]
        for side in ("-wal", "-shm")
        if f.with_name(f.name + side).exists()
    ]
    assert len(files) > 4
    cached = [p for p in (isolated_dirs / "cache" / "gemtui").iterdir() if p.is_file()]
    assert cached, "the token calibration and context windows caches were written"
    files += cached
    for path in files:
        assert _mode(path) == 0o600, path
    for folder in ("config", "data", "state", "cache"):
        assert _mode(isolated_dirs / folder / "gemtui") == 0o700, folder
    queue.close()


def test_existing_store_files_with_wide_modes_are_tightened(tmp_path):
    path = tmp_path / "q" / "queue.sqlite3"
    RequestQueue(path).close()
    os.chmod(path, 0o644)
    RequestQueue(path).close()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


# ---- the TUI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STORES)
async def test_the_tui_shows_one_notice_per_moved_store(emulator, emulator_clock, name):
    from tests.tui_helpers import SharedClock, make_app, ready, submit, until

    old = damage(name, "page")
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: any("moved it to" in str(n.message) for n in app._notifications))
        notes = [str(n.message) for n in app._notifications if "moved it to" in str(n.message)]
        assert len(notes) == 1 and str(store_file(name)) in notes[0]
        await submit(pilot, "still works [[tokens=5]]")
        await until(
            pilot,
            lambda: any(
                m.role == "model" and m.status == "complete" for m in screen.store.messages(screen.conv_id or 0)
            ),
        )
    (aside,) = store_file(name).parent.glob(store_file(name).name + ".corrupt-*")
    assert aside.read_bytes() == old


async def test_a_hostile_file_name_in_a_store_notice_is_shown_as_text(
    emulator, emulator_clock, monkeypatch, isolated_dirs
):
    from tests.tui_helpers import SharedClock, make_app, ready, until

    hostile = isolated_dirs / "data[b]" / "[/]x[link=y]"
    monkeypatch.setenv("XDG_DATA_HOME", str(hostile))
    damage("queue", "header")
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: any("moved it to" in str(n.message) for n in app._notifications))
        (note,) = [str(n.message) for n in app._notifications if "moved it to" in str(n.message)]
        assert str(paths.queue_file()) in note


def test_two_processes_meeting_the_same_damage_set_it_aside_once():
    fill("queue")
    first, second = RequestQueue(), RequestQueue()  # as two gemtui processes sharing the file
    _damage_open_file(first.path)
    for queue in (first, second):
        queue._store.conn.execute("PRAGMA shrink_memory")
    assert first.get(150) is None
    first.add(None, "added after the heal")
    assert second.get(150) is None
    assert [i.prompt for i in second.items()] == ["added after the heal"], "the second joined the new file"
    assert len(list(first.path.parent.glob("queue.sqlite3.corrupt-*[0-9Z]"))) == 1
    assert "already moved it aside" in second.warnings[0]


async def test_the_tui_tells_of_damage_met_after_start(emulator, emulator_clock):
    from tests.tui_helpers import SharedClock, make_app, ready, until

    fill("queue")
    app = make_app(emulator, SharedClock(emulator_clock))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert not any("moved it to" in str(n.message) for n in app._notifications)
        _damage_open_file(screen.queue.path)
        screen.queue._store.conn.execute("PRAGMA shrink_memory")
        assert screen.queue.get(150) is None  # what the next send would have met
        await until(pilot, lambda: any("moved it to" in str(n.message) for n in app._notifications))
        notes = [str(n.message) for n in app._notifications if "moved it to" in str(n.message)]
        assert len(notes) == 1 and str(paths.queue_file()) in notes[0]
