"""The persistent queue and the batch runner: nothing lost, everything sent as soon as it may go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemtui.chat.batch import BatchFileError, read_prompts, run_batch, single_turn_request
from gemtui.chat.queue import QueueError, RequestQueue
from gemtui.chat.sender import Request
from gemtui.cli import main
from gemtui.gemini.client import make_client

PRO = "gemini-2.5-pro"
FLASH = "gemini-2.5-flash"


def test_queue_keeps_order_and_supports_cancel_edit_merge(tmp_path):
    queue = RequestQueue(tmp_path / "q.sqlite3")
    a, b, c, d = (queue.add(1, text) for text in ("first", "second", "third", "fourth"))
    assert [i.prompt for i in queue.items()] == ["first", "second", "third", "fourth"]
    assert queue.cancel(b.id)
    assert queue.edit(c.id, "third, edited")
    merged = queue.merge([c.id, d.id])
    assert merged.id == c.id and merged.prompt == "third, edited\n\nfourth"
    assert [i.prompt for i in queue.items()] == ["first", "third, edited\n\nfourth"]
    with pytest.raises(QueueError):
        queue.merge([a.id, b.id])  # b was cancelled
    with pytest.raises(QueueError):
        queue.edit(a.id, "   ")
    assert [i.prompt for i in RequestQueue(tmp_path / "q.sqlite3").items()] == ["first", "third, edited\n\nfourth"], (
        "the queue is on disk"
    )


def test_items_a_killed_process_was_sending_are_put_back_in_line(tmp_path):
    path = tmp_path / "q.sqlite3"
    script = (
        "import os, sys; from pathlib import Path; from gemtui.chat.queue import RequestQueue\n"
        f"q = RequestQueue(Path({str(path)!r})); item = q.add(7, 'in flight'); q.mark(item.id, 'sending')\n"
        "q.add(7, 'waiting'); os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9
    waiting = RequestQueue(path).recover()
    assert [(i.prompt, i.state) for i in waiting] == [("in flight", "queued"), ("waiting", "queued")]
    assert "resumed" in (waiting[0].reason or "")


def test_finished_rows_are_dropped_after_a_week_waiting_ones_never(tmp_path):
    from gemtui.chat.queue import BATCH_KEEP_S, FINISHED_KEEP_S

    now = [1_000_000_000.0]
    q = RequestQueue(tmp_path / "q.sqlite3", clock=lambda: now[0])
    old_done, old_failed, old_waiting = (q.add(1, p) for p in ("a", "b", "c"))
    q.mark(old_done.id, "done")
    q.mark(old_failed.id, "failed", error="boom")
    q.start_batch("old", input_path="in.txt", out_path="out.jsonl", options={}, total=1)
    q.finish_batch("old")
    q.start_batch("held", input_path="in2.txt", out_path=None, options={}, total=1)
    held = q.add_many(["d"], batch_id="held")[0]
    q.finish_batch("held")  # killed later in its life: its prompt still waits
    now[0] += FINISHED_KEEP_S - 60
    recent = q.add(1, "e")
    q.mark(recent.id, "cancelled")
    assert q.purge_finished() == 0  # not a week old yet
    now[0] += 120
    waiting = q.recover()
    assert {i.id for i in waiting} == {old_waiting.id, held.id}  # waiting rows are never dropped
    assert q.get(old_done.id) is None and q.get(old_failed.id) is None
    assert q.get(recent.id) is not None
    assert {b.id for b in q.batches()} == {"old", "held"}
    now[0] += BATCH_KEEP_S
    q.purge_finished()
    assert {b.id for b in q.batches()} == {"held"}  # its prompt still waits for `gemtui queue --resume`
    q.close()


def test_a_corrupt_queue_file_is_moved_aside(tmp_path):
    path = tmp_path / "q.sqlite3"
    path.write_bytes(os.urandom(4096))
    queue = RequestQueue(path)
    assert queue.warnings and "moved" in queue.warnings[0]
    assert queue.add(None, "works").prompt == "works"
    assert any(p.name.startswith("q.sqlite3.corrupt-") for p in tmp_path.iterdir())


def test_batch_file_formats_and_errors(tmp_path):
    plain = tmp_path / "p.txt"
    plain.write_text("one\n\n two \n")
    assert read_prompts(plain) == ["one", "two"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a"}\n{"prompt": "b", "id": 3}\n')
    assert read_prompts(jsonl) == ["a", "b"]
    jsonl.write_text('{"prompt": "a"}\n{"nope": 1}\n')
    with pytest.raises(BatchFileError, match=":2:"):
        read_prompts(jsonl)
    with pytest.raises(BatchFileError, match="cannot read"):
        read_prompts(tmp_path / "missing.txt")
    jsonl.write_text('{"prompt": "smile \\ud83d\\ude00"}\n{"prompt": "bad \\udcff byte"}\n')
    with pytest.raises(BatchFileError, match=r":2: the prompt holds \\udcff"):  # was a codec error for the batch
        read_prompts(jsonl)


async def test_batch_sends_each_prompt_as_soon_as_admitted(emulator, engine_factory, shared_clock, tmp_path):
    shared_clock.settle_s = 0.3
    engine = engine_factory()
    client = make_client("key-c", emulator.base_url)
    results = []
    progress = await run_batch(
        [f"prompt {n} [[tokens=10]]" for n in range(8)],
        engine=engine,
        client=client,
        project="proj-other",
        make_request=single_turn_request(Request(turns=[], preference="pro")),
        on_result=results.append,
        queue=RequestQueue(tmp_path / "q.sqlite3"),
    )
    assert progress.done == 8 and progress.failed == 0
    assert sorted(r.index for r in results) == list(range(8))
    assert all(r.model == PRO and r.text and r.input_tokens for r in results)
    waited = sorted(r.queued_s for r in results)
    assert waited[:5] == [0.0] * 5, "the first five go at once: RPM 5"
    assert all(59 <= w <= 61 for w in waited[5:]), "the rest go exactly when the window frees"
    stats = emulator.counters()["proj-other"][PRO]
    assert stats["accepted"] == 8 and stats["rejected_429"] == 0
    assert RequestQueue(tmp_path / "q.sqlite3").items() == [], "nothing left waiting"


async def test_an_output_that_cannot_take_a_result_stops_the_batch_and_says_so(
    emulator, engine_factory, shared_clock, tmp_path
):
    """A full disk under --out: the batch said '5 answered' while two answers were gone, and kept paying
    for answers it could not keep. It now stops sending, counts the unwritten, and leaves no row `done`."""
    import errno

    engine = engine_factory()
    client = make_client("key-c", emulator.base_url)
    written = []

    def on_result(result):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(result)

    queue = RequestQueue(tmp_path / "q.sqlite3")
    progress = await run_batch(
        [f"prompt {n} [[tokens=10]]" for n in range(8)],
        engine=engine,
        client=client,
        project="proj-other",
        make_request=single_turn_request(Request(turns=[], preference="flash")),
        on_result=on_result,
        queue=queue,
        max_concurrency=1,
    )
    assert len(written) == 2 and progress.done == 2
    assert progress.unwritten == 1 and progress.output_error.errno == errno.ENOSPC
    assert emulator.counters()["proj-other"][FLASH]["accepted"] == 3, "nothing sent after the failed write"
    states = [(i.state, i.error) for i in queue.items(("queued", "sending", "done", "failed", "cancelled"))]
    assert ("failed", "not written to the output: No space left on device") in states
    assert not any(state in ("queued", "sending") for state, _ in states)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_an_out_device_is_written_not_read_back_or_moved(emulator, tmp_path, monkeypatch, capsys):
    """--out /dev/full was read back for earlier answers (endless zeros: killed for memory); a full output
    is exit 9 with one line, not 'answered'; /dev/null takes answers without an fsync error."""
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one [[tokens=5]]\ntwo [[tokens=5]]\n")
    base = ["ask", "--endpoint", emulator.base_url, "--model", "flash", "--no-cache", "--batch", str(prompts)]
    assert main([*base, "--out", "/dev/full"]) == 9
    err = capsys.readouterr().err
    assert "cannot write /dev/full: No space left on device; 2 answers not written" in err
    assert main([*base, "--out", "/dev/null"]) == 0


def test_batch_command_writes_jsonl_and_warns_about_the_day(emulator, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"question {n} [[tokens=8]]" for n in range(3)))
    out = tmp_path / "out.jsonl"
    emulator.set_limits("gemini-2.5-flash", "free", rpd=2)
    from gemtui.config import update_config

    update_config(lambda doc: doc.setdefault("limits", {}).update({"gemini-2.5-flash": {"rpd": 2}}))
    code = main(
        ["ask", "--endpoint", emulator.base_url, "--model", "flash", "--batch", str(prompts), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert "this batch has 3 prompts" in err and "leave 2" in err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    assert {tuple(sorted(line)) for line in lines} == {
        (
            "batch",
            "cached",
            "error",
            "index",
            "input_tokens",
            "model",
            "output_tokens",
            "prompt",
            "prompt_sha",
            "queued_s",
            "text",
            "thoughts_tokens",
        )
    }
    assert not any(line["cached"] for line in lines)  # three different prompts: nothing to serve again
    answered = [line for line in lines if not line["error"]]
    assert all(line["thoughts_tokens"] > 0 for line in answered)  # 2.5 Pro and Flash think
    refused = [line for line in lines if line["error"]]
    assert len(answered) == 2 and len(refused) == 1 and "RPD" in refused[0]["error"]
    assert code == 6 and "batch finished: 2 answered, 1 failed" in err
    assert emulator.counters()["proj-other"]["gemini-2.5-flash"]["rejected_429"] == 0


async def test_batch_to_an_image_model_books_its_images(emulator, engine_factory, shared_clock, tmp_path):
    """The dispatcher's first routing decision must cost the image too, or IPM goes unbooked."""
    shared_clock.settle_s = 0.3
    image = "gemini-2.5-flash-image"
    emulator.set_tier("proj-other", "tier1")
    engine = engine_factory(tier="tier1")
    progress = await run_batch(
        ["a cat", "a dog", "a fox"],
        engine=engine,
        client=make_client("key-c", emulator.base_url),
        project="proj-other",
        make_request=single_turn_request(Request(turns=[], preference=image)),
        on_result=lambda _result: None,
        queue=RequestQueue(tmp_path / "q.sqlite3"),
    )
    assert progress.done == 3
    gauge = engine.gauges("proj-other", [image])[image]["ipm"]
    assert gauge.used == 3 == emulator.counters()["proj-other"][image]["ipm"]


async def test_a_batch_stopped_while_a_prompt_is_answered_writes_no_answer_for_it(
    emulator, engine_factory, shared_clock, tmp_path
):
    import asyncio

    engine = engine_factory()
    client = make_client("key-c", emulator.base_url)
    emulator.set_fault("slow_first_byte", count=1, seconds=1.0, model=PRO)
    queue = RequestQueue(tmp_path / "q.sqlite3")
    results, seen = [], []
    batch = asyncio.ensure_future(
        run_batch(
            ["slow [[tokens=10]]"],
            engine=engine,
            client=client,
            project="proj-other",
            make_request=single_turn_request(Request(turns=[], preference="pro")),
            on_result=results.append,
            on_progress=seen.append,
            queue=queue,
            tick_s=None,
        )
    )
    for _ in range(200):  # the prompt is on the wire, waiting for its first byte
        if seen and seen[-1].sending == 1:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert results == [], "a prompt never answered is not written out as answered (a rerun sends it)"
    (item,) = queue.items(("queued", "sending", "done", "failed", "cancelled"))
    assert item.state == "cancelled" and item.model == PRO
    for _ in range(100):  # the emulator answers the abandoned request after its delay
        if emulator.counters().get("proj-other", {}).get(PRO, {}).get("accepted"):
            break
        await asyncio.sleep(0.05)


def test_another_running_gemtuis_prompts_are_not_offered_taken_or_cancelled(tmp_path):
    """Two TUIs on one data folder: the second offered and sent the first's waiting prompts (answered twice)
    and its quit-with-cancel cancelled them. A row belongs to the process that queued it (pid + start time)
    until that process is gone, a zombie included."""
    import signal

    from gemtui.chat.queue import process_started

    other = subprocess.Popen(["sleep", "60"])  # another gemtui, alive
    try:
        queue = RequestQueue(tmp_path / "q.sqlite3")
        theirs = queue.add(1, "their prompt")
        queue._db.execute(
            "UPDATE queue SET owner_pid=?, owner_started=? WHERE id=?",
            (other.pid, process_started(other.pid), theirs.id),
        )
        ours = queue.add(1, "our prompt")
        queue.recover()  # a new TUI starting: the other one is alive, its row stays its own
        theirs, ours = queue.get(theirs.id), queue.get(ours.id)
        assert theirs.owner_pid == other.pid and not queue.mine(theirs) and not queue.ours_or_nobodys(theirs)
        assert queue.mine(ours) and queue.claim(ours.id)
        assert not queue.claim(theirs.id) and not queue.cancel(theirs.id)
        assert queue.get(theirs.id).state == "queued"

        other.send_signal(signal.SIGKILL)  # killed, not yet reaped (no wait()): a zombie sends nothing more
        state = ""
        for _ in range(200):
            state = Path(f"/proc/{other.pid}/stat").read_text().rpartition(")")[2].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"
        queue.recover()
        assert queue.get(theirs.id).owner_pid is None, "a zombie's prompts are for the next gemtui"
        assert queue.claim(theirs.id) and queue.mine(queue.get(theirs.id))
    finally:
        other.kill()
        other.wait()
