"""Text folding: NFKC + casefold, accents folded for comparison and kept for display."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# C0 and C1 control characters but tab, line feed and carriage return (whitespace that display
# collapses): no name, address or identifier holds one, PostgreSQL's text cannot store NUL, and
# an escape sequence would reach every terminal that shows an export.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_WORD = re.compile(r"[^\w\s]", re.UNICODE)
# Letters that NFD does not decompose but that people type without their accent.
_EXTRA_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def control_character(value: str) -> str | None:
    """The first control character in `value`, as U+XXXX, if it holds one."""
    found = CONTROL_CHARACTER.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def display(value: str) -> str:
    """How a value is kept for people: NFKC, trimmed, inner whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def fold(value: str) -> str:
    """Comparison form: NFKC, casefold, accents and punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    text = text.translate(_EXTRA_FOLDS)
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    return _SPACES.sub(" ", text).strip()


def tokens(value: str) -> tuple[str, ...]:
    return tuple(fold(value).split())
