"""What the service counts for inline media, as its documentation states it: an image whose sides are both
≤ 384 px is 258 tokens, a larger one 258 per 768×768 tile; a PDF page is 258 tokens.

The emulator reads sizes from the image headers itself (it shares no code with the client)."""

from __future__ import annotations

import math
import re
import struct

TOKENS_PER_TILE = 258
SMALL_PX = 384
TILE_PX = 768
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def _size(data: bytes, mime: str) -> tuple[int, int] | None:
    try:
        if mime == "image/png" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if mime == "image/jpeg":
            i = 2
            while i + 9 < len(data) and data[i] == 0xFF:
                marker = data[i + 1]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                    return width, height
                i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        if mime == "image/webp" and data[12:16] == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    except struct.error:
        return None
    return None


def image_tokens(data: bytes, mime: str) -> int:
    size = _size(data, mime)
    if size is None or (size[0] <= SMALL_PX and size[1] <= SMALL_PX):
        return TOKENS_PER_TILE
    return TOKENS_PER_TILE * math.ceil(size[0] / TILE_PX) * math.ceil(size[1] / TILE_PX)


def pdf_tokens(data: bytes) -> int:
    return TOKENS_PER_TILE * max(1, len(_PDF_PAGE.findall(data)))
