"""What makes a batch resumable, piece by piece: its id, reading back its output, the queue's record of who
runs it, and `gemtui queue` on chat items (the kill -9 cases end to end are in test_fault_matrix_batch.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemtui import exitcodes
from gemtui.chat.batch import BatchResult
from gemtui.chat.batch_resume import batch_id_for, prompt_digest, scan_output
from gemtui.chat.queue import BatchRunning, RequestQueue, owner_alive, process_started
from gemtui.cli import main


def test_the_batch_id_names_the_file_its_content_and_the_options_that_change_answers(tmp_path):
    path = tmp_path / "p.txt"
    base = {"preference": "auto", "out_path": tmp_path / "o.jsonl", "system": None, "max_output_tokens": None}
    first = batch_id_for(path, b"a\nb\n", **base)
    assert first == batch_id_for(tmp_path / "." / "p.txt", b"a\nb\n", **base), "the resolved path counts"
    others = [
        batch_id_for(path, b"a\nc\n", **base),
        batch_id_for(tmp_path / "q.txt", b"a\nb\n", **base),
        batch_id_for(path, b"a\nb\n", **{**base, "preference": "pro"}),
        batch_id_for(path, b"a\nb\n", **{**base, "out_path": tmp_path / "other.jsonl"}),
        batch_id_for(path, b"a\nb\n", **{**base, "out_path": None}),
        batch_id_for(path, b"a\nb\n", **{**base, "system": "be brief"}),
        batch_id_for(path, b"a\nb\n", **{**base, "max_output_tokens": 50}),
    ]
    assert len({first, *others}) == 1 + len(others)


def test_reading_back_an_output_counts_only_this_batchs_answers_to_these_prompts(tmp_path):
    prompts = ["zero", "one", "two", "three"]
    digests = {index: prompt_digest(prompt) for index, prompt in enumerate(prompts)}
    lines = [
        BatchResult(index=0, prompt="zero", text="answer", batch="b1").to_json(),
        BatchResult(index=1, prompt="one", error="RPD limit", batch="b1").to_json(),
        BatchResult(index=2, prompt="two, as it was before the file was edited", text="x", batch="b1").to_json(),
        BatchResult(index=3, prompt="three", text="answer", batch="another batch").to_json(),
        "not json at all",
        json.dumps({"index": 3, "prompt": "three", "text": "from an older gemtui"}),
    ]
    out = tmp_path / "o.jsonl"
    torn = BatchResult(index=3, prompt="three", text="cut", batch="b1").to_json()[:20]
    out.write_text("\n".join(lines) + "\n" + torn, encoding="utf-8")
    found = scan_output(out, "b1", digests, repair=False)
    assert found.answered == {0} and found.failed == {1}
    assert found.unreadable == 1 and found.torn_bytes == len(torn.encode())
    assert out.read_text(encoding="utf-8").endswith(torn), "no repair unless asked"
    scan_output(out, "b1", digests, repair=True)
    assert out.read_text(encoding="utf-8") == "\n".join(lines) + "\n", "the torn tail cut, the rest untouched"
    assert scan_output(tmp_path / "missing.jsonl", "b1", digests, repair=True).lines == 0

    # a whole line that only lacks its newline (written by hand, or by another program) is not torn: kept,
    # and given its newline so the next answer starts a line of its own (it was cut away as "unfinished")
    mine = json.dumps({"note": "mine"})
    out.write_text("\n".join(lines) + "\n" + mine, encoding="utf-8")
    found = scan_output(out, "b1", digests, repair=True)
    assert found.torn_bytes == 0 and found.answered == {0}
    assert out.read_text(encoding="utf-8") == "\n".join(lines) + "\n" + mine + "\n"


def test_an_owner_is_a_pid_and_its_start_time_so_a_reused_pid_is_not_the_owner():
    started = process_started(os.getpid())
    if started is None:  # no /proc: the pid alone decides
        assert owner_alive(os.getpid(), None) is False
        return
    assert owner_alive(os.getpid(), started)
    assert not owner_alive(os.getpid(), str(int(started) - 1)), "our pid, another process's start"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        child_started = process_started(child.pid)
        assert owner_alive(child.pid, child_started)
        assert not owner_alive(child.pid, "1"), "the pid was reused by another process"
    finally:
        child.kill()
        child.wait()
    assert not owner_alive(child.pid, child_started)


def test_a_running_batch_is_not_orphaned_and_its_items_cannot_be_cancelled_under_it(tmp_path):
    queue = RequestQueue(tmp_path / "q.sqlite3")
    queue.start_batch("b1", input_path="/in.txt", out_path="/out.jsonl", options={}, total=2)
    first, _second = queue.add_many(["a", "b"], batch_id="b1")
    queue.mark(first.id, "sending")
    assert queue.batch_running("b1") == os.getpid()
    assert not any(queue.orphaned(item) for item in queue.items())
    assert not queue.cancel_waiting(first.id)
    with pytest.raises(BatchRunning):  # a second run at the same time would send every prompt twice
        queue.start_batch("b1", input_path="/in.txt", out_path="/out.jsonl", options={}, total=2)
    queue.finish_batch("b1")  # as if its process were gone
    assert all(queue.orphaned(item) for item in queue.items())
    assert queue.cancel_waiting(first.id)
    # A later run of the same batch takes it over: the old rows leave the line, it queues afresh.
    queue.start_batch("b1", input_path="/in.txt", out_path="/out.jsonl", options={"model": "pro"}, total=2)
    assert queue.items(batch_id="b1") == []
    assert queue.batch("b1").options == {"model": "pro"}


def test_queue_lists_chat_items_waiting_and_orphaned_with_hostile_text_shown_inert(tmp_path, capsys):
    queue = RequestQueue()
    waiting = queue.add(3, "plain [b]question[/b] \x1b[31mred\x1b[0m\nsecond line")
    orphan = queue.add(4, "was being sent")
    queue.mark(orphan.id, "sending")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    queue._db.execute("UPDATE queue SET owner_pid=? WHERE id=?", (int(dead.stdout), orphan.id))
    queue.close()
    assert main(["queue"]) == exitcodes.EXIT_OK
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 2 and "\x1b" not in "".join(shown)
    assert shown[0].startswith(f"#{waiting.id}  waiting") and "[b]question[/b] ␛[31mred" in shown[0]
    assert shown[1].startswith(f"#{orphan.id}  orphaned")
    assert main(["queue", "--json"]) == exitcodes.EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert [(item["id"], item["state"]) for item in document["chat"]] == [
        (waiting.id, "waiting"),
        (orphan.id, "orphaned"),
    ]
    assert main(["queue", "--cancel", "all"]) == exitcodes.EXIT_OK
    assert "cancelled 2 items" in capsys.readouterr().err
    assert RequestQueue().items() == []


def test_restart_moves_the_old_output_aside_and_resume_and_restart_exclude_each_other(
    tmp_path, emulator, monkeypatch, capsys
):
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    prompts = tmp_path / "p.txt"
    prompts.write_text("one [[tokens=8]]\ntwo [[tokens=8]]\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    argv = ["ask", "--endpoint", emulator.base_url, "--model", "flash", "--batch", str(prompts), "--out", str(out)]
    assert main(argv) == exitcodes.EXIT_OK
    first = out.read_text(encoding="utf-8")
    assert main([*argv, "--resume", "--restart"]) == exitcodes.EXIT_USAGE
    assert "exclude each other" in capsys.readouterr().err
    assert main([*argv, "--restart"]) == exitcodes.EXIT_OK
    err = capsys.readouterr().err
    assert "starting batch" in err and "moved to" in err
    (aside,) = [p for p in Path(tmp_path).iterdir() if p.name.startswith("o.jsonl.")]
    assert aside.read_text(encoding="utf-8") == first
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_a_batch_id_that_begins_with_digits_is_cancelled_by_its_prefix(tmp_path, capsys):
    """Batch ids are hex: a prefix such as `038753` is all digits and must still name the batch."""
    queue = RequestQueue()
    queue.start_batch("038753abcdef", input_path="/in.txt", out_path="/out.jsonl", options={}, total=2)
    queue.add_many(["a", "b"], batch_id="038753abcdef")
    queue.finish_batch("038753abcdef")  # its process is gone: the items are orphans
    chat = queue.add(3, "a chat prompt")
    queue.close()
    assert main(["queue", "--cancel", "038753"]) == exitcodes.EXIT_OK
    assert "cancelled 2 items" in capsys.readouterr().err
    assert [item.id for item in RequestQueue().items()] == [chat.id]
    assert main(["queue", "--cancel", "9999"]) == exitcodes.EXIT_USAGE
    assert "no waiting item #9999" in capsys.readouterr().err
    assert main(["queue", "--cancel", f"#{chat.id}"]) == exitcodes.EXIT_OK
    assert RequestQueue().items() == []
