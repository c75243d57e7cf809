"""Images a model returns, saved as files: the answer keeps their paths, never the bytes.

Files are private (0600 in a 0700 folder, like every other file gemtui writes) and named by the moment
they were saved and a short digest of their bytes, so two images of one answer never collide and the
same image saved twice is recognisable.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gemtui import paths, storage
from gemtui.chat.attachments import image_size

EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/gif": ".gif",
}


@dataclass(frozen=True)
class SavedImage:
    path: str
    mime: str
    size: int
    digest: str
    width: int | None = None
    height: int | None = None

    def describe(self) -> str:
        """`/path/x.png (512×512 PNG, 1.2 kB)`: what the TUI shows where it cannot draw the image."""
        dims = f"{self.width}×{self.height} " if self.width and self.height else ""
        kind = self.mime.split("/")[-1].upper()
        return f"{self.path} ({dims}{kind}, {self.size / 1000:.1f} kB)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SavedImage:
        return cls(
            str(data["path"]),
            str(data.get("mime") or ""),
            int(data.get("size") or 0),
            str(data.get("digest") or ""),
            data.get("width"),
            data.get("height"),
        )


def images_dir() -> Path:
    return paths.data_dir() / "images"


def _images_folder(out_dir: Path | str | None) -> Path:
    """gemtui's own images folder is kept 0700; a folder the user names is created private when missing
    and otherwise left as it is (it may be shared, like /tmp)."""
    if out_dir is None:
        folder = storage.private_folder(images_dir())
        storage.tighten(folder, storage.FOLDER_MODE)
        return folder
    return storage.private_folder(Path(out_dir).expanduser())


def save_images(
    images: Sequence[tuple[str, bytes]], out_dir: Path | None = None, clock: Callable[[], float] = time.time
) -> list[SavedImage]:
    """Write each (mime, bytes) to `out_dir` (default: the data dir's images/) and say where."""
    if not images:
        return []
    folder = _images_folder(out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    saved = []
    for mime, data in images:
        digest = hashlib.sha256(data).hexdigest()
        path = folder / f"gemtui-{stamp}-{digest[:10]}{EXTENSIONS.get(mime, '.bin')}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        size = image_size(data, mime)
        saved.append(SavedImage(str(path), mime, len(data), digest, *(size or (None, None))))
    return saved
