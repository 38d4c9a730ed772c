"""Checks on what a user pastes or uploads: limits, decoding and unsafe characters.

Every refusal is an InputError whose message tells the user what to do next.
"""

from __future__ import annotations

import math
import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class InputError(ValueError):
    """Input the app refuses; the message is shown to the user as it is."""


def check_text(text: str, max_chars: int) -> str:
    """Return the text when it can be analysed, else raise InputError."""
    if not text.strip():
        raise InputError("Enter some text, pick an example or upload a .txt file to analyse.")
    if len(text) > max_chars:
        raise InputError(
            f"The text has {len(text):,} characters; the limit is {max_chars:,}. "
            "Shorten it or split it into parts (the limit is set by NER_MAX_CHARS)."
        )
    return text


def decode_upload(data: bytes, filename: str, max_bytes: int) -> str:
    """Decode an uploaded .txt file as UTF-8 (with or without BOM), else raise InputError."""
    if len(data) > max_bytes:
        raise InputError(
            f"{filename} is {len(data):,} bytes; the limit is {max_bytes:,}. "
            "Upload a smaller file (the limit is set by NER_MAX_UPLOAD_BYTES)."
        )
    if b"\x00" in data:
        raise InputError(
            f"{filename} looks like a binary file, not text. Upload a UTF-8 .txt file."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{filename} is not valid UTF-8 (byte {error.start:,} cannot be decoded). "
            "Save it as UTF-8 and upload it again."
        ) from None


def upload_limit_mb(max_bytes: int) -> int:
    """Streamlit's uploader limit (whole MB of 1024 * 1024 bytes) that max_bytes fits in, so
    the page promises no more than the app accepts but for the rounding, which the uploader's
    label (the exact figure) and decode_upload's message cover."""
    return max(1, math.ceil(max_bytes / (1024 * 1024)))


def replace_control_characters(text: str) -> tuple[str, int]:
    """Replace C0/C1 control characters (but tab and newlines) with spaces.

    The text keeps its length, so entity offsets still point into what the user gave.
    Returns the cleaned text and how many characters were replaced.
    """
    cleaned, count = _CONTROL.subn(" ", text)
    return cleaned, count


def is_right_to_left(text: str) -> bool:
    """True when most letters of the text belong to a right-to-left script."""
    directions = [unicodedata.bidirectional(ch) for ch in text if ch.isalpha()]
    rtl = sum(direction in {"R", "AL"} for direction in directions)
    return bool(directions) and rtl * 2 > len(directions)
