"""`gemtui ask -a`, piped stdin and images out, end to end: what reached the wire is read from the
emulator's request log, never from what the client says it sent."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from pathlib import Path

import pytest

from gemtui import exitcodes
from gemtui.cli import main
from gemtui.emulator.textgen import make_png

FLASH = "gemini-2.5-flash"
IMAGE_MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def run(emulator, monkeypatch, capsys):
    def invoke(*argv: str, stdin: str | None = None):
        monkeypatch.setenv("GEMINI_API_KEY", "key-c")
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
        code = main(["ask", *argv, "--endpoint", emulator.base_url])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return invoke


def write_config(isolated_dirs, text: str) -> None:
    path = isolated_dirs / "config" / "gemtui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generates(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in ("generateContent", "streamGenerateContent")]


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def test_text_file_image_and_piped_stdin_reach_the_request(run, emulator, tmp_path):
    notes = tmp_path / "notes.py"
    notes.write_text("def answer():\n    return 42\n")
    png = make_png("attached", 7)
    picture = tmp_path / "picture.png"
    picture.write_bytes(png)
    code, out, err = run(
        "review this [[tokens=5]]",
        "--model",
        "flash",
        "-a",
        str(notes),
        "--attach",
        str(picture),
        stdin="diff --git a/x b/x\n+new line\n",
    )
    assert code == exitcodes.EXIT_OK and out.strip(), err
    (request,) = generates(emulator)
    parts = request["contents"][-1]["parts"]
    assert [p["kind"] for p in parts] == ["text", "inline:image/png", "text", "text"]
    assert parts[0]["sha256"] == sha(f"--- {notes} ---\ndef answer():\n    return 42\n")
    assert parts[1]["sha256"] == sha(png) and parts[1]["bytes"] == len(png)
    assert parts[2]["sha256"] == sha("--- stdin ---\ndiff --git a/x b/x\n+new line\n")
    assert parts[3]["sha256"] == sha("review this [[tokens=5]]")
    stats = emulator.counters()["proj-other"][FLASH]
    assert stats["input_tokens_total"] > 258, "the image was counted by the server"


def test_without_a_prompt_stdin_is_the_prompt(run, emulator):
    code, _, _ = run("--model", "flash", stdin="only stdin [[tokens=5]]")
    assert code == exitcodes.EXIT_OK
    (request,) = generates(emulator)
    assert [p["kind"] for p in request["contents"][-1]["parts"]] == ["text"]
    assert request["contents"][-1]["parts"][0]["sha256"] == sha("only stdin [[tokens=5]]")


def test_an_attachment_past_tpm_is_refused_before_sending(run, emulator, isolated_dirs, tmp_path):
    emulator.set_limits(FLASH, "free", tpm=2000)
    write_config(isolated_dirs, f'[limits."{FLASH}"]\ntpm = 2000\n')
    big = tmp_path / "big.txt"
    big.write_text("lorem ipsum dolor sit amet " * 600)
    code, _, err = run("summarise [[tokens=5]]", "--model", "flash", "-a", str(big))
    assert code != exitcodes.EXIT_OK and "TPM" in err and len(err.strip().splitlines()) == 1
    assert generates(emulator) == [], "nothing was sent"


def test_an_image_is_counted_at_its_documented_cost_before_sending(run, emulator, isolated_dirs, tmp_path):
    emulator.set_limits(FLASH, "free", tpm=250)
    write_config(isolated_dirs, f'[limits."{FLASH}"]\ntpm = 250\n')
    picture = tmp_path / "p.png"
    picture.write_bytes(make_png("small", 1))
    code, _, err = run("hi", "--model", "flash", "-a", str(picture))
    assert code != exitcodes.EXIT_OK and "TPM" in err
    assert generates(emulator) == [], "a 258-token image cannot fit a 250-token minute"
    assert emulator.counters().get("proj-other", {}).get(FLASH, {}).get("rejected_429", 0) == 0


@pytest.mark.parametrize(
    "name,data,words",
    [
        ("blob.bin", b"\x00\x01\x02binary", "binary file"),
        ("anim.gif", b"GIF89a" + b"\x00" * 20, "GIF is not"),
        ("latin1.txt", "caf\u00e9".encode("latin-1"), "not valid UTF-8 (byte offset 3)"),
    ],
)
def test_files_the_api_would_not_take_are_refused_in_one_line(run, emulator, tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    code, _, err = run("hi", "--model", "flash", "-a", str(path))
    assert code == exitcodes.EXIT_USAGE and words in err and str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert emulator.requests() == []


def test_a_missing_file_and_an_oversized_one_are_refused(run, emulator, tmp_path):
    code, _, err = run("hi", "-a", str(tmp_path / "nope.txt"))
    assert code == exitcodes.EXIT_USAGE and "nope.txt" in err and len(err.strip().splitlines()) == 1
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 1_000_001)
    code, _, err = run("hi", "-a", str(huge))
    assert code == exitcodes.EXIT_USAGE and "limit for a text file" in err
    assert emulator.requests() == []


def test_a_returned_image_is_saved_privately_and_its_path_printed(run, emulator, isolated_dirs, tmp_path):
    emulator.set_tier("proj-other", "tier1")
    write_config(isolated_dirs, '[general]\ntier = "tier1"\n')
    out_dir = tmp_path / "new" / "pictures"
    code, out, err = run("a red square", "--model", IMAGE_MODEL, "--out-dir", str(out_dir))
    assert code == exitcodes.EXIT_OK, err
    (saved,) = list(out_dir.iterdir())
    assert f"gemtui: image saved: {saved}" in err
    assert saved.read_bytes().startswith(b"\x89PNG") and saved.suffix == ".png"
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out_dir.parent).st_mode) == 0o700  # every folder it made, not only the last

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: a folder the user names is written into, never re-moded
    code, _, err = run("a blue square", "--model", IMAGE_MODEL, "--out-dir", str(shared))
    assert code == exitcodes.EXIT_OK, err
    assert len(list(shared.iterdir())) == 1
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777


def test_a_session_keeps_attachments_and_resends_them_next_turn(run, emulator, tmp_path):
    png = make_png("kept", 3)
    picture = tmp_path / "kept.png"
    picture.write_bytes(png)
    assert run("what is this [[tokens=5]]", "--model", "flash", "--session", "pics", "-a", str(picture))[0] == 0
    picture.unlink()  # the store keeps the bytes: the file is not read again
    assert run("and now? [[tokens=5]]", "--model", "flash", "--session", "pics")[0] == 0
    first, second = generates(emulator)
    kinds = [[p["kind"] for p in c["parts"]] for c in second["contents"]]
    assert kinds == [["inline:image/png", "text"], ["text"], ["text"]]
    assert second["contents"][0]["parts"][0]["sha256"] == sha(png)


def test_batch_results_name_saved_images(emulator, isolated_dirs, monkeypatch, capsys, tmp_path):
    emulator.set_tier("proj-other", "tier1")
    write_config(isolated_dirs, '[general]\ntier = "tier1"\n')
    monkeypatch.setenv("GEMINI_API_KEY", "key-c")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a blue circle\n")
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "ask",
            "--batch",
            str(prompts),
            "--out",
            str(out),
            "--model",
            IMAGE_MODEL,
            "--out-dir",
            str(tmp_path / "imgs"),
            "--endpoint",
            emulator.base_url,
        ]
    )
    capsys.readouterr()
    assert code == exitcodes.EXIT_OK
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    (path,) = line["images"]
    assert path.startswith(str(tmp_path / "imgs")) and Path(path).read_bytes().startswith(b"\x89PNG")


def test_a_hostile_file_name_is_shown_as_text(run, emulator, tmp_path):
    path = tmp_path / "evil\x1b[31m[bold]red\x07.bin"
    path.write_bytes(b"\x00binary")
    code, _, err = run("hi", "-a", str(path))
    assert code == exitcodes.EXIT_USAGE and "evil␛[31m[bold]red␇.bin: a binary file" in err
    assert "\x1b" not in err and "\x07" not in err and len(err.strip().splitlines()) == 1


def test_in_a_conversation_the_budget_counts_the_attachment_before_sending(run, emulator, isolated_dirs, tmp_path):
    emulator.set_limits(FLASH, "free", tpm=2000)
    write_config(isolated_dirs, f'[limits."{FLASH}"]\ntpm = 2000\n')
    big = tmp_path / "big.txt"
    big.write_text("lorem ipsum dolor sit amet " * 600)
    code, _, err = run("summarise [[tokens=5]]", "--model", "flash", "--session", "s", "-a", str(big))
    assert code != exitcodes.EXIT_OK and "budget" in err and generates(emulator) == []
