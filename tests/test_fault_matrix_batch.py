"""Fault matrix, batches: `gemtui ask --batch` killed with SIGKILL part-way, then run again, as a user's
shell would. Counted at the emulator (requests), in the output (lines) and in the stores (queue rows,
ledger rows): nothing lost, nothing doubled, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemtui import exitcodes, paths

ROOT = Path(__file__).resolve().parents[1]
LITE = "gemini-2.5-flash-lite"
PROMPTS = 30


@pytest.fixture
def roomy(emulator):
    """Limits far above the batch on both sides, and answers slow enough to kill a batch part-way."""
    from gemtui.config import update_config

    emulator.set_limits(LITE, "free", rpm=1000, tpm=10_000_000, rpd=100_000)
    update_config(
        lambda doc: doc.setdefault("limits", {}).update({LITE: {"rpm": 1000, "tpm": 10_000_000, "rpd": 100_000}})
    )
    emulator.set_pacing(ttft_s=0.25, tokens_per_s=20000.0)
    return emulator


def gemtui_argv(*argv: str) -> list[str]:
    return [sys.executable, "-m", "gemtui", *argv]


def env() -> dict[str, str]:
    return {**os.environ, "GEMINI_API_KEY": "key-c"}


def gemtui(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gemtui_argv(*argv), capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120)


def write_prompts(tmp_path: Path, count: int = PROMPTS) -> Path:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {n} [[tokens=8]]\n" for n in range(count)), encoding="utf-8")
    return prompts


def complete_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(raw) for raw in data[: data.rfind(b"\n") + 1].splitlines() if raw.strip()]


def accepted(emulator) -> int:
    return emulator.counters().get("proj-other", {}).get(LITE, {}).get("accepted", 0)


def settled_accepted(emulator) -> int:
    """The server's count once the killed client's last requests have arrived and stopped changing."""
    before, stable_since = accepted(emulator), time.monotonic()
    while time.monotonic() - stable_since < 0.5:
        time.sleep(0.05)
        now = accepted(emulator)
        if now != before:
            before, stable_since = now, time.monotonic()
    return before


def kill_after_lines(emulator, prompts: Path, out: Path, lines: int) -> subprocess.Popen:
    argv = gemtui_argv(
        "ask", "--endpoint", emulator.base_url, "--model", "lite", "--batch", str(prompts), "--out", str(out)
    )
    process = subprocess.Popen(argv, env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(complete_lines(out)) < lines:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the batch never wrote enough lines"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return process


def waiting_rows() -> list[tuple[str, str]]:
    with sqlite3.connect(paths.queue_file()) as db:
        return db.execute("SELECT batch_id, state FROM queue WHERE state IN ('queued','sending')").fetchall()


def ledger_live_rows() -> int:
    with sqlite3.connect(paths.ledger_file()) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM requests WHERE model=? AND state IN ('reserved','committed')", (LITE,)
        ).fetchone()
    return count


def assert_every_prompt_answered_once(out: Path, count: int = PROMPTS) -> list[dict]:
    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = [json.loads(raw) for raw in data.splitlines()]
    assert sorted(line["index"] for line in lines) == list(range(count)), "every prompt once, none twice"
    assert all(line["text"] and line["error"] is None for line in lines)
    assert len({line["batch"] for line in lines}) == 1
    return lines


def test_a_killed_batch_rerun_sends_only_what_was_never_answered(roomy, tmp_path):
    prompts, out = write_prompts(tmp_path), tmp_path / "answers.jsonl"
    kill_after_lines(roomy, prompts, out, 10)
    kept = len(complete_lines(out))
    sent_before = settled_accepted(roomy)
    assert kept < PROMPTS and sent_before > kept, "some requests were in flight when it was killed"
    # The ledger counts every request that may have reached the server: the killed ones stay reserved.
    assert ledger_live_rows() >= sent_before
    rows = waiting_rows()
    assert rows, "the killed run's rows are still there for the next gemtui to find"
    in_flight = sum(1 for _batch, state in rows if state == "sending")
    assert in_flight >= sent_before - kept, "every request the server saw without an answer written is `sending`"

    listed = gemtui("queue", "--json")
    assert listed.returncode == exitcodes.EXIT_OK, listed.stderr
    (batch,) = json.loads(listed.stdout)["batches"]
    assert batch["state"] == "orphaned" and batch["pid"] is None
    assert batch["out"] == str(out.resolve()) and batch["total"] == PROMPTS
    assert PROMPTS - kept <= batch["unanswered"] <= PROMPTS - kept + 1  # +1: killed between writing and marking

    rerun = gemtui("ask", "--endpoint", roomy.base_url, "--model", "lite", "--batch", str(prompts), "--out", str(out))
    assert rerun.returncode == exitcodes.EXIT_OK, rerun.stderr
    resumed = [line for line in rerun.stderr.splitlines() if "resuming batch" in line]
    assert len(resumed) == 1
    assert f"{kept} of {PROMPTS} prompts already answered" in resumed[0]
    found = re.search(rf"sending {PROMPTS - kept}, (\d+) of them re-sent \((\d+) were in flight", resumed[0])
    assert found, resumed[0]
    assert sent_before - kept <= int(found[1]) == int(found[2]) <= in_flight
    assert accepted(roomy) - sent_before == PROMPTS - kept, "the rerun sent only what had no answer"
    lines = assert_every_prompt_answered_once(out)
    assert lines[0]["batch"] == batch["id"]
    assert waiting_rows() == [], "nothing left queued or sending"
    assert ledger_live_rows() >= accepted(roomy), "the ledger never counts fewer than the server saw"
    assert json.loads(gemtui("queue", "--json").stdout) == {"batches": [], "chat": []}


def test_a_line_torn_by_the_kill_is_rewritten_not_duplicated(roomy, tmp_path):
    prompts, out = write_prompts(tmp_path, 6), tmp_path / "answers.jsonl"
    first = gemtui("ask", "--endpoint", roomy.base_url, "--model", "lite", "--batch", str(prompts), "--out", str(out))
    assert first.returncode == exitcodes.EXIT_OK, first.stderr
    lines = out.read_bytes().splitlines(keepends=True)
    last = lines[-1]
    out.write_bytes(b"".join(lines[:-1]) + last[: len(last) // 2])  # died in the middle of the last line
    before = accepted(roomy)

    # --no-cache: the torn prompt's answer is in the response cache; here it must go to the server again
    rerun = gemtui(
        "ask",
        "--endpoint",
        roomy.base_url,
        "--model",
        "lite",
        "--batch",
        str(prompts),
        "--out",
        str(out),
        "--resume",
        "--no-cache",
    )
    assert rerun.returncode == exitcodes.EXIT_OK, rerun.stderr
    assert "removed an unfinished last line" in rerun.stderr
    assert "5 of 6 prompts already answered" in rerun.stderr
    assert accepted(roomy) - before == 1
    assert_every_prompt_answered_once(out, 6)

    again = gemtui("ask", "--endpoint", roomy.base_url, "--model", "lite", "--batch", str(prompts), "--out", str(out))
    assert again.returncode == exitcodes.EXIT_OK and "nothing to send" in again.stderr
    assert accepted(roomy) - before == 1, "a finished batch run again sends nothing"
    assert_every_prompt_answered_once(out, 6)


def test_queue_resume_finishes_a_killed_batch_from_its_recorded_files(roomy, tmp_path):
    prompts, out = write_prompts(tmp_path), tmp_path / "answers.jsonl"
    kill_after_lines(roomy, prompts, out, 5)
    kept = len(complete_lines(out))
    sent_before = settled_accepted(roomy)
    listed = gemtui("queue")
    assert listed.returncode == exitcodes.EXIT_OK
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("batch ")]
    batch_id = line.split()[1]
    assert "orphaned" in line and f"gemtui queue --resume {batch_id}" in line and str(out.resolve()) in line

    resumed = gemtui("queue", "--resume", batch_id, "--endpoint", roomy.base_url)
    assert resumed.returncode == exitcodes.EXIT_OK, resumed.stderr
    assert accepted(roomy) - sent_before == PROMPTS - kept
    assert_every_prompt_answered_once(out)
    assert waiting_rows() == []


def test_queue_cancel_drops_a_killed_batch_and_refuses_unknown_ids(roomy, tmp_path):
    prompts, out = write_prompts(tmp_path), tmp_path / "answers.jsonl"
    kill_after_lines(roomy, prompts, out, 3)
    (batch,) = json.loads(gemtui("queue", "--json").stdout)["batches"]
    unknown = gemtui("queue", "--cancel", "9999")
    assert unknown.returncode == exitcodes.EXIT_USAGE and "no waiting item #9999" in unknown.stderr
    cancelled = gemtui("queue", "--cancel", batch["id"][:6])
    assert cancelled.returncode == exitcodes.EXIT_OK, cancelled.stderr
    assert f"cancelled {batch['unanswered']} items" in cancelled.stderr
    assert waiting_rows() == []
    assert gemtui("queue").stdout.startswith("the queue is empty")


def test_a_rerun_to_stdout_says_it_cannot_skip_anything(roomy, tmp_path):
    prompts = write_prompts(tmp_path, 4)
    argv = gemtui_argv("ask", "--endpoint", roomy.base_url, "--model", "lite", "--batch", str(prompts))
    process = subprocess.Popen(argv, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    process.stdout.readline()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    rerun = gemtui("ask", "--endpoint", roomy.base_url, "--model", "lite", "--batch", str(prompts))
    assert rerun.returncode == exitcodes.EXIT_OK, rerun.stderr
    assert "cannot be read back, so every prompt is sent again" in rerun.stderr
    assert sorted(json.loads(line)["index"] for line in rerun.stdout.splitlines()) == [0, 1, 2, 3]
    assert waiting_rows() == []
    bad = gemtui("ask", "--batch", str(prompts), "--resume")
    assert bad.returncode == exitcodes.EXIT_USAGE and "need --out FILE" in bad.stderr
