"""Person names: folded forms for comparison and nickname groups."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rapidfuzz.distance import DamerauLevenshtein

from mds.domain.normalization.text import display, fold


@dataclass(frozen=True, slots=True)
class NormalizedName:
    display: str
    folded: str

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self.folded.split())


def normalize_name(raw: str) -> NormalizedName | None:
    shown = display(raw)
    folded = fold(shown)
    if not folded:
        return None
    return NormalizedName(shown, folded)


def _reference_lines(filename: str) -> list[str]:
    """A data file's lines without their comments (blank ones kept: line numbers are ids)."""
    text = resources.files("mds.domain.data").joinpath(filename).read_text("utf-8")
    return [line.split("#", 1)[0].strip() for line in text.splitlines()]


@lru_cache(maxsize=1)
def _nickname_lines() -> tuple[frozenset[str], ...]:
    """The folded names of each line of nicknames.txt (one nickname group per line)."""
    return tuple(
        frozenset(f for name in entry.split(",") if entry and (f := fold(name)))
        for entry in _reference_lines("nicknames.txt")
    )


@lru_cache(maxsize=1)
def _nickname_index() -> dict[str, frozenset[int]]:
    """Folded name → the nickname groups (line numbers of nicknames.txt) it belongs to."""
    index: dict[str, set[int]] = {}
    for number, names in enumerate(_nickname_lines()):
        for name in names:
            index.setdefault(name, set()).add(number)
    return {name: frozenset(groups) for name, groups in index.items()}


def nickname_groups(folded: str) -> frozenset[int]:
    return _nickname_index().get(folded, frozenset())


def are_nicknames(a: str, b: str) -> bool:
    """True when two different folded given names share a nickname group (Bill ~ William)."""
    return a != b and not nickname_groups(a).isdisjoint(nickname_groups(b))


@lru_cache(maxsize=65_536)
def nickname_forms(folded: str) -> frozenset[str]:
    """Every other name sharing a nickname group with `folded` (william → bill, will, …)."""
    lines = _nickname_lines()
    return frozenset().union(*(lines[g] for g in nickname_groups(folded))) - {folded}


_OCR_DIGITS = str.maketrans({"0": "o", "1": "l", "5": "s"})


@lru_cache(maxsize=65_536)
def ocr_key(folded: str) -> str:
    """A form that OCR confusions do not change: 0/o, 1/l, 5/s, rn/m and c/e read alike."""
    return folded.translate(_OCR_DIGITS).replace("rn", "m").replace("c", "e")


@lru_cache(maxsize=1)
def _known_given_names() -> frozenset[str]:
    listed = {fold(entry) for entry in _reference_lines("given_names.txt") if entry}
    return frozenset(listed | set(_nickname_index()))


def is_known_given_name(folded: str) -> bool:
    """Whether the reference lists hold this given name (a misspelling usually is not there)."""
    return folded in _known_given_names()


@lru_cache(maxsize=65_536)
def known_readings(folded: str) -> frozenset[str]:
    """The known given names an unknown one is a single slip of (makr, mwrk → mark; jirn →
    jim); a known name reads as itself. A slip is an OCR confusion or one edit, and for a name
    under four letters only a dropped letter or two swapped ones (jm, jmi → jim): short names
    have many real neighbours that the lists lack."""
    known = _known_given_names()
    if folded in known:
        return frozenset({folded})
    key = ocr_key(folded)
    return frozenset(
        name
        for name in known
        if ocr_key(name) == key or (_within_one_edit(folded, name) and _long_enough(folded, name))
    )


def _within_one_edit(a: str, b: str) -> bool:
    return DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1


def _long_enough(slip: str, name: str) -> bool:
    return len(name) >= 4 or (len(name) == 3 and (len(slip) == 2 or sorted(slip) == sorted(name)))
