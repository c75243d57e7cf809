"""Text coming in at the door (arguments, stdin) is valid UTF-8 or refused with one line saying where.

Python hands over undecodable argument bytes as lone surrogates (`surrogateescape`); forwarded, they
break the request's JSON (the server answers 500 and the retries follow) or the session store's
encoder. Guessing a replacement would send the model text the user never wrote, so gemtui refuses.
"""

from __future__ import annotations

from collections.abc import Sequence


class BadText(ValueError):
    """Input that is not valid UTF-8; the message names where and the byte offset."""


def _surrogate_index(text: str) -> int | None:
    """Where the first lone surrogate is (an undecodable byte, or a JSON `\\udcff` escape), or None."""
    return next((index for index, ch in enumerate(text) if 0xD800 <= ord(ch) <= 0xDFFF), None)


def _first_bad_offset(text: str) -> int | None:
    """Byte offset (in the original bytes) of the first undecodable byte, or None if all is well."""
    index = _surrogate_index(text)
    return None if index is None else len(text[:index].encode("utf-8", "surrogateescape"))


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate as an escape a user can find (`\\udcff`), or None: such text is not UTF-8."""
    index = _surrogate_index(text)
    return None if index is None else f"\\u{ord(text[index]):04x}"


def check_arguments(argv: Sequence[str]) -> None:
    """Raise BadText naming the first argument (1 = the first after `gemtui`) that is not UTF-8."""
    for number, arg in enumerate(argv, 1):
        offset = _first_bad_offset(arg)
        if offset is not None:
            raise BadText(
                f"argument {number} is not valid UTF-8 (byte offset {offset}); gemtui accepts UTF-8 text only"
            )


def decode_stdin(data: bytes | str) -> str:
    """stdin's bytes as text, or BadText naming the byte offset of the first bad sequence."""
    if isinstance(data, str):  # a text stream someone gave us (tests, an embedding program)
        offset = _first_bad_offset(data)
        if offset is None:
            return data
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = exc.start
    raise BadText(f"stdin is not valid UTF-8 (byte offset {offset}); gemtui accepts UTF-8 text only")


def read_stdin(stream) -> str:
    """All of `stream`, read as bytes where it has them, checked as UTF-8."""
    buffer = getattr(stream, "buffer", None)
    return decode_stdin(buffer.read() if buffer is not None else stream.read())


def typed_number(text: str) -> int | None:
    """`3` or `#3`, as a user types a message, item or conversation number; None for anything else. Digits
    of other scripts (`²`, `٣`) pass str.isdigit() but not int(), and more digits than an id can have
    would overflow SQLite: both are not numbers here."""
    digits = text.strip().removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)
