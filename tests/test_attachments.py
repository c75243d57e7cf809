"""Reading a file into an attachment: the type its bytes prove, the tokens the API documents for it,
and a one-line refusal for what the API would not take."""

from __future__ import annotations

import struct

import pytest

from gemtui.chat import attachments
from gemtui.chat.attachments import AttachmentError, from_bytes, image_tokens
from gemtui.chat.sender import estimate_cost
from gemtui.emulator.textgen import make_png
from gemtui.gemini.client import count_tokens, make_client
from gemtui.turns import Turn


def png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height) + b"\x08\x02"


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHH", 11, 8, height, width) + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_header(width: int, height: int) -> bytes:
    body = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


@pytest.mark.parametrize(
    "size,tokens",
    [
        ((32, 32), 258),
        ((384, 384), 258),
        ((385, 100), 258),
        ((768, 768), 258),
        ((769, 768), 516),
        ((1920, 1080), 258 * 3 * 2),
        (None, 258 * 4),
    ],
)
def test_image_tokens_follow_the_documented_tiles(size, tokens):
    assert image_tokens(size) == tokens


@pytest.mark.parametrize(
    "data,mime",
    [
        (png_header(1000, 500), "image/png"),
        (jpeg_header(1000, 500), "image/jpeg"),
        (webp_header(1000, 500), "image/webp"),
    ],
)
def test_image_sizes_are_read_from_headers(data, mime):
    attached = from_bytes("x", data)
    assert attached.mime == mime and attached.tokens == 258 * 2 and attached.data == data


def test_heic_and_pdf_are_recognised_by_their_bytes():
    heic = from_bytes("photo", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16)
    assert heic.mime == "image/heic" and heic.tokens == 258 * attachments.UNKNOWN_IMAGE_TILES
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 3 >>\n" + b"<< /Type /Page >>\n" * 3 + b"%%EOF"
    doc = from_bytes("doc.txt", pdf)  # the name does not decide the type
    assert doc.mime == "application/pdf" and doc.tokens == 3 * 258


def test_text_is_text_whatever_it_contains():
    hostile = "[bold]x[/] \x1b[31mred\x1b[0m @other.py"
    attached = from_bytes("a [/].txt", hostile.encode())
    assert attached.text == hostile and attached.mime == "text/plain"
    assert attached.headed_text() == f"--- a [/].txt ---\n{hostile}"


def test_the_request_limit_counts_inline_data_as_base64():
    one = from_bytes("a.png", png_header(10, 10) + b"\x00" * 6_000_000)
    attachments.check_request([one])
    with pytest.raises(AttachmentError, match="over the API's 20.0 MB limit"):
        attachments.check_request([one, one, one])


def test_a_folder_and_a_device_are_refused(tmp_path):
    with pytest.raises(AttachmentError, match="a folder"):
        attachments.load(tmp_path)
    with pytest.raises(AttachmentError, match="not a regular file"):
        attachments.load("/dev/zero")


def test_names_the_os_refuses_are_one_line_not_an_exception(tmp_path, monkeypatch):
    """`~user` with no such user, a NUL, a word longer than a file name may be: each used to raise
    RuntimeError, ValueError or OSError out of the composer's completion or the send."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AttachmentError, match="no such user's home folder"):
        attachments.load("~nosuch_gemtui_zz/notes.txt")
    with pytest.raises(AttachmentError, match="cannot hold a NUL"):
        attachments.load("a\x00b")
    long_word = "x" * 5000
    assert attachments.mentioned_paths(f"ping @{long_word} and @a\x00b") == []  # handles, not files
    assert attachments.path_completions("~nosuch_gemtui_zz/") == []
    assert attachments.path_completions(f"{long_word}/") == []
    assert attachments.path_completions("a\x00/") == []


async def test_the_estimate_covers_what_the_server_counts_for_an_image(emulator):
    png = make_png("counted", 2)
    turn = Turn("user", "", (from_bytes("p.png", png),))
    client = make_client("demo-key", emulator.base_url)
    server = await count_tokens(client, "gemini-2.5-flash", [turn])
    assert server == 258 == turn.attachments[0].tokens
    assert estimate_cost([turn], None, "gemini-2.5-flash").input_tokens >= server


@pytest.mark.parametrize("data", [png_header(1000, 500), jpeg_header(2000, 300), webp_header(384, 384)])
async def test_client_and_emulator_agree_on_images_of_every_size(emulator, data):
    turn = Turn("user", "", (from_bytes("i", data),))
    client = make_client("demo-key", emulator.base_url)
    assert await count_tokens(client, "gemini-2.5-flash", [turn]) == turn.attachments[0].tokens


def test_mentions_name_files_not_handles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / "two words.txt").write_text("y")
    text = 'ask @alice about @notes.md, mail a@b.com, see @"two words.txt" and @docs/missing.md'
    assert attachments.mentioned_paths(text) == ["notes.md", "two words.txt", "docs/missing.md"]
    with pytest.raises(AttachmentError, match="docs/missing.md: No such file"):
        attachments.load_mentioned(text)


def test_calibration_learned_from_text_never_scales_an_image_below_its_cost():
    """Text estimates err high, so calibration learns a ratio below 1; an image's documented cost is
    exact and must not shrink with it (the estimate may be high, never low)."""
    from gemtui.chat.tokens import TokenEstimator

    estimator = TokenEstimator(persist=False)
    for _ in range(20):
        estimator.observe("gemini-2.5-flash", 1000, 500)  # the server counted half our text estimate
    assert estimator.factor("gemini-2.5-flash") < 1
    turn = Turn("user", "look at this", (from_bytes("p.png", make_png("calibrated", 2)),))
    estimate = estimate_cost([turn], None, "gemini-2.5-flash", estimator).input_tokens
    assert estimate >= 258 + 1
