"""The words a turn is made of — a message of history, the usage counts, one streamed chunk — shared by chat/
and the provider edge (gemini/, and any provider after it).

They live here, beneath both, because chat/ sends them to a provider and a provider builds them from the wire:
in chat/ the provider could not import them (it never imports chat/), and in gemini/ they would tie every other
provider, and the chat code, to one provider's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """A file sent with a user message: a text file as text headed by its path, an image or a PDF as
    inline bytes with its MIME type. `tokens` is what the API counts for it (documented figures), so the
    estimate reserved against TPM includes it before anything is sent."""

    path: str  # as the user named it; shown and stored, never opened again to resend
    mime: str
    size: int  # bytes of the file
    digest: str  # sha256 hex of the bytes
    tokens: int
    text: str | None = None  # text files: the content (already checked as UTF-8)
    data: bytes | None = None  # images and PDFs: the bytes sent inline

    @property
    def is_text(self) -> bool:
        return self.text is not None

    def headed_text(self) -> str:
        """A text file as the model reads it: its path first, so several files stay apart."""
        return f"--- {self.path} ---\n{self.text or ''}"


@dataclass(frozen=True)
class Turn:
    """One message of history as the API sees it (`role` is "user" or "model"), with the files the user
    attached to it (sent before the text, as the API advises for documents and images)."""

    role: str
    text: str
    attachments: tuple[Attachment, ...] = ()


@dataclass
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    thought_tokens: int | None = None
    total_tokens: int | None = None


@dataclass
class StreamChunk:
    """One SSE event reduced to what gemtui uses; usage holds running totals."""

    text: str = ""
    thought: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model_version: str | None = None
    block_reason: str | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)
