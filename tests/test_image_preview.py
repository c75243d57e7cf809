"""Previews of answers' images: real files decoded by Pillow, shrunk with their aspect kept, drawn as
half-block cells whose colours are the picture's; damaged, hostile and missing files get one line."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image
from rich.console import Console

from gemtui.tui.widgets.image_preview import PreviewError, preview_size, render_preview, terminal_can_preview

RED, BLUE = (220, 20, 20), (20, 20, 220)


def cells(preview) -> list[list[tuple[str, object, object]]]:
    """The preview as rows of (character, foreground, background) triplets."""
    console = Console(color_system="truecolor", width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    rows: list[list[tuple[str, object, object]]] = [[]]
    for segment in console.render(preview.renderable):
        if segment.text == "\n":
            rows.append([])
            continue
        style = segment.style
        rows[-1].extend(
            (char, style.color and style.color.triplet, style.bgcolor and style.bgcolor.triplet)
            for char in segment.text
        )
    return [row for row in rows if row]


def test_sizes_keep_the_aspect_and_never_enlarge():
    assert preview_size(32, 32) == (24, 24)  # 12 rows of two pixels: the height bounds it
    assert preview_size(1024, 256) == (40, 10)  # the width bounds it; 10 pixel rows = 5 cells
    assert preview_size(8, 4) == (8, 4)  # small pictures stay their size
    assert preview_size(3, 3) == (3, 4)  # pixel rows go in pairs
    assert preview_size(10_000, 1) == (40, 2)  # never less than one row of cells


def test_a_picture_is_drawn_in_its_own_colours(tmp_path):
    path = tmp_path / "flag.png"
    image = Image.new("RGB", (16, 16), RED)
    image.paste(BLUE, (0, 8, 16, 16))  # bottom half blue
    image.save(path)
    preview = render_preview(str(path))
    assert (preview.cols, preview.rows) == (16, 8)
    drawn = cells(preview)
    assert len(drawn) == 8 and all(len(row) == 16 for row in drawn)
    colours = {colour for row in drawn for _, fg, bg in row for colour in (fg, bg)}
    assert colours == {RED, BLUE}
    top, bottom = drawn[0], drawn[-1]
    assert {fg for _, fg, _ in top} | {bg for _, _, bg in top} == {RED}
    assert {fg for _, fg, _ in bottom} | {bg for _, _, bg in bottom} == {BLUE}


def test_a_jpeg_is_decoded_small(tmp_path):
    path = tmp_path / "wide.jpg"
    Image.new("RGB", (2000, 1000), (0, 160, 0)).save(path, quality=80)
    preview = render_preview(str(path))
    assert (preview.cols, preview.rows) == (40, 10)
    for row in cells(preview):
        for _, fg, bg in row:
            for colour in (fg, bg):
                r, g, b = colour
                assert g > 120 and r < 40 and b < 40  # still green after the JPEG round trip


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` and whose pixels are missing (a decompression bomb's
    shape, without the bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "not a picture the preview can read"),
        (b"<html><title>502 Bad Gateway</title></html>", "not a picture the preview can read"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR[/]\x1b[2J", "the picture is damaged"),
        (_png_header_only(100_000, 100_000), "too large to preview"),
        (_png_header_only(64, 64), "the picture is damaged"),
    ],
)
def test_bad_files_give_a_reason_not_a_traceback(tmp_path, content, why):
    path = tmp_path / "answer.png"
    path.write_bytes(content)
    with pytest.raises(PreviewError) as caught:
        render_preview(str(path))
    assert str(caught.value).startswith(why)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(PreviewError, match="the file is gone"):
        render_preview(str(tmp_path / "deleted.png"))


def test_only_terminals_with_enough_colours_get_previews():
    assert terminal_can_preview("truecolor") and terminal_can_preview("256")
    assert not terminal_can_preview("standard") and not terminal_can_preview(None)
