"""A small picture of an image an answer carried, drawn in half-block cells (one cell holds two pixels,
one above the other), so it shows in any terminal with 256 colours or more, inside tmux and over ssh.
The path line above it stays: /open (Ctrl+G) shows the image full size in the system's viewer.

Pillow decodes and shrinks the file (PNG, JPEG, WEBP, GIF; HEIC and PDF have no decoder there, and get
one line saying so); rich-pixels turns the shrunken pixels into cells.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass
from typing import Any

from textual.widgets import Static

from gemtui.log import get_logger

PREVIEW_COLS = 40  # widest preview, in cells (one pixel each)
PREVIEW_ROWS = 12  # tallest preview, in cells (two pixels each)
MAX_FILE_BYTES = 40 * 1024 * 1024  # a bigger file is not decoded for a preview
MAX_PIXELS = 64 * 1024 * 1024  # nor a picture that would take this many pixels once decoded
COLOUR_SYSTEMS = ("256", "truecolor")  # where half-block pixels look like a picture

log = get_logger(__name__)


class PreviewError(Exception):
    """Why there is no preview, in a few words for the line that stands in for it."""


@dataclass(frozen=True)
class Preview:
    renderable: Any  # rich_pixels.Pixels: the cells, ready to draw
    cols: int
    rows: int


def preview_size(
    width: int, height: int, max_cols: int = PREVIEW_COLS, max_rows: int = PREVIEW_ROWS
) -> tuple[int, int]:
    """(columns, pixel rows) of the shrunken picture: the aspect kept, never enlarged, an even number of
    pixel rows (cells hold them in pairs). A cell is about twice as tall as wide, so a pixel is square."""
    scale = min(max_cols / width, 2 * max_rows / height, 1.0)
    cols = max(1, round(width * scale))
    pixel_rows = max(2, round(height * scale))
    return cols, pixel_rows + pixel_rows % 2


def render_preview(path: str, max_cols: int = PREVIEW_COLS, max_rows: int = PREVIEW_ROWS) -> Preview:
    """Decode, shrink and draw `path`; raises PreviewError with the reason in a few words. Runs in a
    thread: decoding a large picture takes a while."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise PreviewError("the file is gone") from None
    except OSError as exc:
        raise PreviewError(f"cannot read the file ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise PreviewError("too large to preview")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                    raise PreviewError(f"too large to preview ({width}×{height})")
                cols, pixel_rows = preview_size(width, height, max_cols, max_rows)
                image.draft("RGB", (cols * 2, pixel_rows * 2))  # JPEG: decode at a fraction of the size
                picture = image.convert("RGBA").resize((cols, pixel_rows), Image.Resampling.BOX)
    except PreviewError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PreviewError("too large to preview") from None
    except UnidentifiedImageError:
        raise PreviewError("not a picture the preview can read") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged data (Pillow raises all three)
        log.info("no preview of %s: %s", path, exc)
        raise PreviewError("the picture is damaged") from None
    from rich_pixels import Pixels

    return Preview(Pixels.from_image(picture), cols, pixel_rows // 2)


def terminal_can_preview(color_system: str | None) -> bool:
    return color_system in COLOUR_SYSTEMS


class ImagePreview(Static):
    """The preview of one saved image, drawn once decoded (in a thread, so the app never waits on it);
    if it cannot be drawn, one muted line says why."""

    DEFAULT_CSS = """
    ImagePreview { width: auto; height: auto; margin: 0 0 1 0; color: $text-muted; }
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self.path = path
        self.preview: Preview | None = None
        self.problem: str | None = None

    def on_mount(self) -> None:
        self.run_worker(self._draw(), name=f"image preview {self.path}", group="image-previews", exit_on_error=False)

    async def _draw(self) -> None:
        try:
            preview = await asyncio.to_thread(render_preview, self.path)
        except PreviewError as exc:
            self._no_preview(str(exc))
            return
        except Exception:  # a decoder's surprise must not take the app down
            log.exception("drawing a preview of %s failed", self.path)
            self._no_preview("the picture could not be drawn")
            return
        self.preview = preview
        self.styles.width = preview.cols
        self.styles.height = preview.rows
        self.update(preview.renderable)

    def _no_preview(self, why: str) -> None:
        self.problem = why
        self.update(f"(no preview: {why})")
