"""Files a user attaches to a message (`@path` in the composer, `gemtui ask -a PATH`, piped stdin).

A file is read once, here, into an `Attachment`: a text file as checked UTF-8 text, an image or a PDF as
bytes with the MIME type its first bytes prove (never its name). Anything else is refused with one line,
as is a file past its size limit, so nothing the API would refuse (or bill for nothing) leaves the machine.

Token costs follow the API's documented counting: an image whose sides are both ≤ 384 px is 258 tokens; a
larger one is cut into 768×768 tiles of 258 tokens each; a PDF page is 258 tokens. An image whose size
cannot be read (HEIC/HEIF) is reserved as four tiles, a PDF whose pages cannot be counted (compressed page
tree) as one page per 100 kB — both estimates err high, and the answer's `promptTokenCount` corrects the
calibration after the request.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path

from gemtui.chat.tokens import raw_text
from gemtui.textin import BadText, decode_stdin
from gemtui.turns import Attachment

IMAGE_TOKENS = 258  # one image ≤ 384 px a side, one 768×768 tile, one PDF page
SMALL_IMAGE_PX = 384
TILE_PX = 768
UNKNOWN_IMAGE_TILES = 4
PDF_BYTES_PER_PAGE_GUESS = 100_000

MAX_TEXT_BYTES = 1_000_000  # a text file: ~250k tokens, past any free-tier minute anyway
MAX_INLINE_BYTES = 7_000_000  # one image or PDF sent inline
MAX_REQUEST_BYTES = 20_000_000  # the API's limit on a whole inline request (inline data as base64)
SNIFF_BYTES = 8192

INLINE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "application/pdf")


class AttachmentError(ValueError):
    """A file that cannot be attached; the message is one line naming it and why."""


def sniff_mime(head: bytes) -> str | None:
    """The MIME type the first bytes prove, for the types gemtui sends inline (and GIF, to refuse it)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx"):
            return "image/heic"
        if brand in (b"mif1", b"msf1", b"heif"):
            return "image/heif"
    return None


def image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) from the image's header, where gemtui can read it cheaply."""
    try:
        if mime == "image/png" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if mime == "image/jpeg":
            return _jpeg_size(data)
        if mime == "image/webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def image_tokens(size: tuple[int, int] | None) -> int:
    """What the API counts for one image of `size` (see the module's docstring)."""
    if size is None:
        return IMAGE_TOKENS * UNKNOWN_IMAGE_TILES
    width, height = size
    if width <= SMALL_IMAGE_PX and height <= SMALL_IMAGE_PX:
        return IMAGE_TOKENS
    return IMAGE_TOKENS * max(1, math.ceil(width / TILE_PX)) * max(1, math.ceil(height / TILE_PX))


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF: its page objects where they are plain to see, else a guess from its size."""
    pages = len(_PDF_PAGE.findall(data))
    return pages or max(1, math.ceil(len(data) / PDF_BYTES_PER_PAGE_GUESS))


def from_bytes(name: str, data: bytes) -> Attachment:
    """An attachment from a file's bytes, or AttachmentError saying in one line why not."""
    digest = hashlib.sha256(data).hexdigest()
    mime = sniff_mime(data[:64])
    if mime == "image/gif":
        raise AttachmentError(
            f"{_shown(name)}: GIF is not an image type the Gemini API takes (PNG, JPEG, WEBP, HEIC, HEIF); not attached"
        )
    if mime is not None:
        if len(data) > MAX_INLINE_BYTES:
            raise AttachmentError(
                f"{_shown(name)}: {_mb(len(data))} is over the {_mb(MAX_INLINE_BYTES)} limit for one "
                "image or PDF; not attached"
            )
        tokens = IMAGE_TOKENS * pdf_pages(data) if mime == "application/pdf" else image_tokens(image_size(data, mime))
        return Attachment(name, mime, len(data), digest, tokens, data=data)
    if b"\x00" in data[:SNIFF_BYTES]:
        raise AttachmentError(
            f"{_shown(name)}: a binary file that is not a PNG, JPEG, WEBP, HEIC/HEIF image or a PDF; not attached"
        )
    if len(data) > MAX_TEXT_BYTES:
        raise AttachmentError(
            f"{_shown(name)}: {_mb(len(data))} of text is over the {_mb(MAX_TEXT_BYTES)} limit for a "
            "text file; not attached"
        )
    try:
        text = decode_stdin(data)
    except BadText as exc:
        raise AttachmentError(f"{_shown(name)}: " + str(exc).replace("stdin is", "the file is", 1)) from None
    return Attachment(name, "text/plain", len(data), digest, raw_text(text), text=text)


def _expanded(name: str) -> Path:
    """`name` with `~` or `~user` expanded; a user who does not exist (or no home) is the file's problem."""
    if "\x00" in name:  # no file system takes it; pathlib would raise ValueError at the first look
        raise AttachmentError(f"{_shown(name)}: a file name cannot hold a NUL character; not attached")
    try:
        return Path(name).expanduser()
    except RuntimeError:
        raise AttachmentError(f"{_shown(name)}: no such user's home folder; not attached") from None


def _names_a_file(name: str) -> bool:
    """True when `name` is an existing regular file; a name the OS refuses (too long, bad user) is not."""
    try:
        return _expanded(name).is_file()
    except (AttachmentError, OSError, ValueError):
        return False


def load(path: str | Path) -> Attachment:
    """Read the file at `path` (expanding `~`) as an attachment named as the user wrote it."""
    name = str(path)
    target = _expanded(name)
    try:
        if target.is_dir():
            raise AttachmentError(f"{_shown(name)}: a folder, not a file; not attached")
        if target.exists() and not target.is_file():  # a device or a pipe could be read forever
            raise AttachmentError(f"{_shown(name)}: not a regular file; not attached")
        cap = max(MAX_INLINE_BYTES, MAX_TEXT_BYTES)
        size = target.stat().st_size
        if size > cap:
            raise AttachmentError(f"{_shown(name)}: {_mb(size)} is over every attachment limit; not attached")
        with target.open("rb") as fh:
            data = fh.read(cap + 1)  # a file growing while read stops at the limit
    except OSError as exc:
        raise AttachmentError(f"{_shown(name)}: {exc.strerror or exc}; not attached") from None
    return from_bytes(name, data)


def from_stdin_text(text: str) -> Attachment:
    """Piped stdin (already checked UTF-8) as a text attachment headed "stdin"."""
    data = text.encode("utf-8")
    if len(data) > MAX_TEXT_BYTES:
        raise AttachmentError(
            f"stdin: {_mb(len(data))} of text is over the {_mb(MAX_TEXT_BYTES)} limit for a "
            "text attachment; not attached"
        )
    return Attachment("stdin", "text/plain", len(data), hashlib.sha256(data).hexdigest(), raw_text(text), text=text)


def check_request(attachments: Sequence[Attachment]) -> None:
    """Refuse a set of attachments whose request would pass the API's inline request limit."""
    total = sum(math.ceil(a.size / 3) * 4 if a.data is not None else a.size for a in attachments)
    if total > MAX_REQUEST_BYTES:
        raise AttachmentError(
            f"the attachments come to {_mb(total)} on the wire, over the API's "
            f"{_mb(MAX_REQUEST_BYTES)} limit for one request; attach fewer"
        )


def _shown(name: str) -> str:
    """A file name for a one-line message: control characters (an escape would recolour the terminal, a
    newline would break the line) as visible symbols."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: chr(0x2400 + ord(m.group())) if m.group() != "\x7f" else "\u2421", name)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


# ---- `@path` in a typed message -------------------------------------------------------------------

_MENTION = re.compile(r'(?<!\S)@(?:"([^"\n]+)"|(\S+))')
MAX_COMPLETIONS = 50


def mentioned_paths(text: str) -> list[str]:
    """Files a typed message attaches: `@path` (or `@"path with spaces"`) at the start of a word, for
    every one that names an existing file. `@name` that is no file stays text (a handle, a decorator);
    one that is plainly a path (quoted, with a `/`, or from `~`) is returned even when missing, so
    loading it says so."""
    found: list[str] = []
    for match in _MENTION.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        path = quoted or (bare or "").rstrip(".,;:!?)")
        if not path or path in found:
            continue
        looks_like_path = quoted is not None or "/" in path or path.startswith("~")
        if looks_like_path or _names_a_file(path):
            found.append(path)
    return found


def load_mentioned(text: str) -> tuple[Attachment, ...]:
    """Every file `text` mentions, read and checked (AttachmentError: one line naming the first bad one)."""
    attached = tuple(load(path) for path in mentioned_paths(text))
    check_request(attached)
    return attached


def path_completions(partial: str, cwd: Path | None = None) -> list[tuple[str, bool]]:
    """(path, is a folder) for each entry that starts with `partial` (what follows the `@`), folders
    first, hidden entries only when asked for with a leading dot."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    head, _, prefix = partial.rpartition("/")
    folder_text = head + "/" if head or partial.startswith("/") else ""
    try:
        folder = _expanded(folder_text) if folder_text else Path(".")
        if not folder.is_absolute():
            folder = base / folder
        entries = [(e.name, e.is_dir()) for e in os.scandir(folder)]
    except (AttachmentError, OSError, ValueError):  # no such user, a name too long, a NUL: nothing to offer
        return []
    shown = [
        (name, is_dir)
        for name, is_dir in entries
        if name.startswith(prefix) and (prefix.startswith(".") or not name.startswith("."))
    ]
    shown.sort(key=lambda e: (not e[1], e[0].lower()))
    return [(folder_text + name + ("/" if is_dir else ""), is_dir) for name, is_dir in shown[:MAX_COMPLETIONS]]
