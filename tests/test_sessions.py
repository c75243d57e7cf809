"""The sessions store: what is stored survives the process, partial answers grow in place, a broken
file never stops the app."""

from __future__ import annotations

import sqlite3

import pytest

from gemtui import paths
from gemtui.chat.sessions import (
    SCHEMA_VERSION,
    SessionError,
    SessionNameTaken,
    SessionNotFound,
    SessionStore,
    short_title,
)


class TickClock:
    """Each call one second later: orderings by time are deterministic."""

    def __init__(self) -> None:
        self.t = 1_767_225_600.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def store(tmp_path):
    s = SessionStore(tmp_path / "sessions.sqlite3", clock=TickClock())
    yield s
    s.close()


def test_default_path_is_under_the_data_dir():
    with SessionStore() as store:
        assert store.path == paths.sessions_file()
        assert store.path.exists()


def test_create_get_find(store):
    conv = store.create(title="Plans", system="be brief", name="work")
    assert conv.id > 0 and conv.name == "work" and conv.system == "be brief"
    assert store.get(conv.id) == conv
    assert store.find("work") == conv
    assert store.find(str(conv.id)) == conv
    assert store.find(f"#{conv.id}") == conv
    assert store.find("nope") is None
    assert store.get(999) is None
    # what str.isdigit() takes but int() or SQLite cannot: not an id, so no conversation (was a ValueError
    # from `ask --session ²` and an OverflowError from twenty digits)
    assert store.find("²") is None and store.find("#٣") is None
    assert store.find("9" * 20) is None


def test_names_are_unique_and_win_over_ids(store):
    first = store.create(name="1x")
    with pytest.raises(SessionNameTaken):
        store.create(name="1x")
    numbered = store.create(name=str(first.id + 5))
    assert store.find(str(first.id + 5)) == numbered  # a name that looks like an id is still a name


def test_get_or_create_named_is_idempotent_across_instances(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SessionStore(path) as a, SessionStore(path) as b:
        one = a.get_or_create_named("daily")
        two = b.get_or_create_named("daily")
        assert one.id == two.id
        assert len(a.list()) == 1
        with pytest.raises(SessionError):
            a.get_or_create_named("  ")


def test_title_comes_from_the_first_user_message(store):
    conv = store.create()
    store.append(conv.id, "user", "  How do I   rotate an API key\nwithout downtime? " + "x" * 200)
    store.append(conv.id, "user", "second question")
    title = store.get(conv.id).title
    assert title == "How do I rotate an API key"
    assert store.get(conv.id).title == title
    given = store.create(title="Mine")
    store.append(given.id, "user", "hello")
    assert store.get(given.id).title == "Mine"


def test_short_title_cuts_at_a_word():
    long = "word " * 40
    title = short_title(long, limit=30)
    assert len(title) <= 30 and title.endswith("…") and not title.startswith(" ")
    assert short_title("") == "(empty)"


def test_messages_persist_across_instances_in_order(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SessionStore(path) as store:
        conv = store.create(name="p")
        u = store.append(conv.id, "user", "question")
        m = store.append(
            conv.id, "model", "answer", model="gemini-2.5-flash", input_tokens=12, output_tokens=3, latency_s=1.5
        )
        store.set_pinned(u.id, True)
    with SessionStore(path) as again:
        msgs = again.messages(again.find("p").id)
        assert [(x.role, x.text) for x in msgs] == [("user", "question"), ("model", "answer")]
        assert msgs[0].pinned and not msgs[1].pinned
        assert msgs[1].id == m.id and msgs[1].model == "gemini-2.5-flash"
        assert (msgs[1].input_tokens, msgs[1].output_tokens, msgs[1].latency_s) == (12, 3, 1.5)


def test_partial_answer_is_updated_in_place(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = SessionStore(path)
    conv = store.create()
    store.append(conv.id, "user", "tell me")
    ans = store.append(conv.id, "model", "", status="pending", model="gemini-2.5-pro")
    store.update_message(ans.id, text="Once upon", status="partial")
    # Another process (or the next start after a crash) sees the partial text already.
    with SessionStore(path) as other:
        seen = other.get_message(ans.id)
        assert (seen.text, seen.status) == ("Once upon", "partial")
    store.update_message(ans.id, text="Once upon a time.", status="complete", input_tokens=40, output_tokens=5)
    final = store.get_message(ans.id)
    assert (final.text, final.status, final.input_tokens, final.model) == (
        "Once upon a time.",
        "complete",
        40,
        "gemini-2.5-pro",
    )
    assert len(store.messages(conv.id)) == 2
    store.update_message(ans.id, status="error", error="stream cut")
    assert store.get_message(ans.id).error == "stream cut"
    with pytest.raises(SessionError):
        store.update_message(ans.id, status="bogus")
    with pytest.raises(SessionNotFound):
        store.update_message(12345, text="x")
    store.close()


def test_bad_role_and_unknown_session_are_refused(store):
    conv = store.create()
    with pytest.raises(SessionError):
        store.append(conv.id, "assistant", "x")
    with pytest.raises(SessionNotFound):
        store.append(999, "user", "x")


def test_list_rename_set_system_delete(store):
    a = store.create(name="a")
    b = store.create(name="b")
    store.append(a.id, "user", "q")
    store.append(a.id, "model", "r", model="gemini-2.5-flash")
    store.append(b.id, "user", "q2")
    listed = store.list()
    assert [s.id for s in listed] == [b.id, a.id]  # most recently touched first
    by_id = {s.id: s for s in listed}
    assert by_id[a.id].message_count == 2 and by_id[a.id].last_model == "gemini-2.5-flash"
    assert by_id[b.id].message_count == 1 and by_id[b.id].last_model is None
    assert len(store.list(limit=1)) == 1
    store.rename(a.id, "Renamed")
    store.set_system(a.id, "You are terse.")
    got = store.get(a.id)
    assert (got.title, got.system) == ("Renamed", "You are terse.")
    assert store.list()[0].id == a.id
    store.delete(a.id)
    assert store.get(a.id) is None and store.messages(a.id) == []
    with pytest.raises(SessionNotFound):
        store.rename(a.id, "x")


def test_delete_message_and_insert_after(store):
    conv = store.create()
    one = store.append(conv.id, "user", "one")
    two = store.append(conv.id, "model", "two")
    three = store.append(conv.id, "user", "three")
    mid = store.insert_after(one.id, conv.id, "model", "between")
    first = store.insert_after(None, conv.id, "user", "first")
    assert [m.text for m in store.messages(conv.id)] == ["first", "one", "between", "two", "three"]
    store.delete_message(two.id)
    store.delete_message(two.id)  # twice is harmless
    assert [m.id for m in store.messages(conv.id)] == [first.id, one.id, mid.id, three.id]


def test_two_stores_share_one_file(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SessionStore(path) as tui, SessionStore(path) as headless:
        conv = tui.create(name="shared")
        tui.append(conv.id, "user", "from the TUI")
        headless.append(conv.id, "model", "from ask --session")
        assert [m.text for m in tui.messages(conv.id)] == ["from the TUI", "from ask --session"]
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_garbage_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "sessions.sqlite3"
    garbage = b"this is not sqlite at all\n" * 100
    path.write_bytes(garbage)
    with SessionStore(path) as store:
        assert len(store.warnings) == 1 and "moved it to" in store.warnings[0]
        conv = store.create(name="fresh")
        store.append(conv.id, "user", "works again")
        assert store.messages(conv.id)[0].text == "works again"
    aside = list(tmp_path.glob("sessions.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage


def test_damaged_pages_are_detected(tmp_path):
    path = tmp_path / "sessions.sqlite3"
    with SessionStore(path) as store:
        conv = store.create()
        for i in range(300):
            store.append(conv.id, "user", f"message {i} " + "lorem ipsum " * 30)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, 3 * page):  # scribble over interior pages
        data[offset : offset + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    with SessionStore(path) as store:
        assert store.warnings, "a damaged file must be noticed at open"
        assert store.list() == []
    assert list(tmp_path.glob("sessions.sqlite3.corrupt-*"))


def test_export_markdown_labels_models_and_tokens(store):
    conv = store.create(title="Key rotation", system="Answer briefly.", name="keys")
    store.append(conv.id, "user", "How do I rotate a key?")
    store.append(
        conv.id,
        "model",
        "Create a new one, then delete the old.",
        model="gemini-2.5-pro",
        input_tokens=1234,
        output_tokens=56,
        latency_s=2.25,
        pinned=True,
    )
    store.append(conv.id, "user", "And quotas?")
    cut = store.append(conv.id, "model", "They are per proj", model="gemini-2.5-flash", status="partial")
    store.update_message(cut.id, error="connection closed")
    md = store.export_markdown(conv.id)
    assert md.startswith("# Key rotation\n")
    assert "> Answer briefly." in md
    heading = next(line for line in md.splitlines() if line.startswith("### gemini-2.5-pro"))
    assert "1,234 in / 56 out tokens" in heading and " s · " in heading
    assert "### gemini-2.5-flash ·" in md
    assert "*(pinned)*" in md
    assert "incomplete" in md and "> Error: connection closed" in md
    assert md.index("How do I rotate a key?") < md.index("Create a new one") < md.index("And quotas?")
    with pytest.raises(SessionNotFound):
        store.export_markdown(999)


# ---- schema step 2: settings per conversation, thinking tokens per answer ---------------------------

V1_SCHEMA = """
CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, title TEXT, system TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, pos REAL NOT NULL, role TEXT NOT NULL,
    text TEXT NOT NULL, model TEXT, input_tokens INTEGER, output_tokens INTEGER, latency_s REAL,
    status TEXT NOT NULL DEFAULT 'complete', pinned INTEGER NOT NULL DEFAULT 0, error TEXT,
    kind TEXT NOT NULL DEFAULT 'message', created_at REAL NOT NULL, updated_at REAL NOT NULL);
INSERT INTO conversations VALUES (1, 'old', 'Old talk', 'be terse', 1.0, 2.0);
INSERT INTO messages(conv_id, pos, role, text, model, input_tokens, output_tokens, created_at, updated_at)
    VALUES (1, 1, 'user', 'hello', NULL, NULL, NULL, 1.0, 1.0), (1, 2, 'model', 'hi', 'gemini-2.5-pro', 3, 1, 2, 2);
PRAGMA user_version = 1;
"""


def test_a_v1_sessions_file_is_upgraded_in_place_and_keeps_everything(tmp_path):
    from gemtui.chat.sessions import SCHEMA_VERSION
    from gemtui.generation import GenerationSettings

    path = tmp_path / "sessions.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    store = SessionStore(path)
    assert store.warnings == []  # upgraded, not moved aside
    conv = store.find("old")
    assert (conv.title, conv.system, conv.settings) == ("Old talk", "be terse", GenerationSettings())
    answer = store.messages(conv.id)[-1]
    assert (answer.text, answer.input_tokens, answer.thoughts_tokens) == ("hi", 3, None)
    store.set_settings(conv.id, GenerationSettings(temperature=0.5, thinking_budget=0))
    store.update_message(answer.id, thoughts_tokens=77)
    store.close()
    again = SessionStore(path)  # the step is idempotent: opening twice changes nothing more
    assert again.find("old").settings == GenerationSettings(temperature=0.5, thinking_budget=0)
    assert again.messages(conv.id)[-1].thoughts_tokens == 77
    again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        stored = conn.execute("SELECT settings FROM conversations").fetchone()[0]
    assert stored == '{"temperature": 0.5, "thinking_budget": 0}'


def test_settings_step_adds_only_missing_columns():
    from gemtui.chat.sessions import _SCHEMA, _v2_settings

    conn = sqlite3.connect(":memory:")
    conn.executescript(_SCHEMA)  # a new file already has both columns
    _v2_settings(conn)
    _v2_settings(conn)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
    assert "settings" in columns


def test_a_v1_file_gains_the_cached_mark_and_keeps_its_messages(tmp_path):
    """Schema step 4: a file written before the response cache opens with every message unmarked."""
    from gemtui.chat import sessions as module

    path = tmp_path / "old.sqlite3"
    v1_script = module._SCHEMA.replace("    cached         INTEGER NOT NULL DEFAULT 0,\n", "")
    assert "cached" not in v1_script
    db = sqlite3.connect(path)
    db.executescript(v1_script)
    db.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('old', 1, 1)")
    db.execute(
        "INSERT INTO messages(conv_id, pos, role, text, created_at, updated_at) VALUES (1, 1, 'model', 'hi', 1, 1)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    store = SessionStore(path)
    try:
        (message,) = store.messages(1)
        assert message.text == "hi" and message.cached is False and not store.warnings
        store.update_message(message.id, cached=True)
        assert store.get_message(message.id).cached is True
    finally:
        store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == module.SCHEMA_VERSION == 4
    db.close()
    store = SessionStore(path)  # opening it again runs no step twice
    assert store.get_message(message.id).cached is True
    store.close()


# ---- attachments and images (schema step 3) --------------------------------------------------------

_V1_MESSAGES = """
CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, title TEXT, system TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, pos REAL NOT NULL, role TEXT NOT NULL,
    text TEXT NOT NULL, model TEXT, input_tokens INTEGER, output_tokens INTEGER, latency_s REAL,
    status TEXT NOT NULL DEFAULT 'complete', pinned INTEGER NOT NULL DEFAULT 0, error TEXT,
    kind TEXT NOT NULL DEFAULT 'message', created_at REAL NOT NULL, updated_at REAL NOT NULL);
INSERT INTO conversations VALUES (1, 'old', 'old', NULL, 1.0, 1.0);
INSERT INTO messages(conv_id, pos, role, text, created_at, updated_at) VALUES (1, 1.0, 'user', 'kept', 1.0, 1.0);
PRAGMA user_version = 1;
"""


def test_a_v1_file_is_upgraded_in_place_and_keeps_its_messages(tmp_path):
    path = tmp_path / "sessions.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_V1_MESSAGES)
    with SessionStore(path) as store:
        assert store.warnings == []
        (old,) = store.messages(1)
        assert old.text == "kept" and old.attachments == () and old.images == ()
        store.append(1, "user", "with a file", attachments=[_image("a")])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with SessionStore(path) as store:  # opening it again changes nothing
        assert [m.text for m in store.messages(1)] == ["kept", "with a file"]


def _image(seed: str):
    import hashlib

    from gemtui.emulator.textgen import make_png
    from gemtui.turns import Attachment

    png = make_png(seed, 1)
    return Attachment(f"{seed}.png", "image/png", len(png), hashlib.sha256(png).hexdigest(), 258, data=png)


def test_attachments_and_saved_images_round_trip(tmp_path):
    from gemtui.chat.images_out import SavedImage
    from gemtui.turns import Attachment

    path = tmp_path / "s.sqlite3"
    picture = _image("p")
    text = Attachment("notes [/].md", "text/plain", 5, "d" * 64, 2, text="\x1b[31mhi")
    with SessionStore(path) as store:
        conv = store.create(name="a")
        store.append(conv.id, "user", "one", attachments=[text, picture])
        store.append(conv.id, "user", "same picture again", attachments=[picture])
        answer = store.append(conv.id, "model", "done")
        store.update_message(answer.id, images=[SavedImage("/tmp/x.png", "image/png", 10, "e" * 64, 32, 32)])
    with SessionStore(path) as store:
        first, second, model = store.messages(conv.id)
        assert first.attachments == (text, picture) and second.attachments == (picture,)
        assert model.images[0].path == "/tmp/x.png" and model.images[0].describe().startswith("/tmp/x.png (32×32")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1, "the same bytes are stored once"


def test_export_names_attached_files_and_saved_images(tmp_path):
    from gemtui.chat.images_out import SavedImage

    with SessionStore(tmp_path / "e.sqlite3") as store:
        conv = store.create(name="e")
        store.append(conv.id, "user", "look", attachments=[_image("q")])
        answer = store.append(conv.id, "model", "here")
        store.update_message(answer.id, images=[SavedImage("/x/y.png", "image/png", 3, "f" * 64)])
        text = store.export_markdown(conv.id)
    assert "- attached: `q.png` (image/png," in text and "- image saved: `/x/y.png`" in text
