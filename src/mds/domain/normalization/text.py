"""Text folding: NFKC + casefold, accents folded for comparison and kept for display."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]", re.UNICODE)
# Letters that NFD does not decompose but that people type without their accent.
_EXTRA_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


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
