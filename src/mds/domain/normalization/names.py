"""Person names: folded forms for comparison and nickname groups."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

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


@lru_cache(maxsize=1)
def _nickname_index() -> dict[str, frozenset[int]]:
    """Folded name → the nickname groups (line numbers of nicknames.txt) it belongs to."""
    index: dict[str, set[int]] = {}
    text = resources.files("mds.domain.data").joinpath("nicknames.txt").read_text("utf-8")
    for number, line in enumerate(text.splitlines()):
        entry = line.split("#", 1)[0].strip()
        for name in entry.split(",") if entry else ():
            if folded := fold(name):
                index.setdefault(folded, set()).add(number)
    return {name: frozenset(groups) for name, groups in index.items()}


def nickname_groups(folded: str) -> frozenset[int]:
    return _nickname_index().get(folded, frozenset())


def are_nicknames(a: str, b: str) -> bool:
    """True when two different folded given names share a nickname group (Bill ~ William)."""
    return a != b and not nickname_groups(a).isdisjoint(nickname_groups(b))
