"""Comparison levels per field: how two records agree on a name, a date, an id, …

Each comparison returns the first level whose condition holds, from the strongest agreement down
to `different`; `null` when either side lacks the value. Levels carry no weights: those come from
the model parameters (m/u), so training can change them without touching these rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from mds.domain.normalization.names import (
    are_nicknames,
    is_known_given_name,
    known_readings,
    nickname_forms,
    ocr_key,
)
from mds.matching.blocking import phonetic
from mds.matching.record import MatchRecord

NULL = "null"
DIFFERENT = "different"


def _misread(a: str, b: str) -> bool:
    """One typo apart in a way Jaro–Winkler undervalues: an OCR confusion (michae1, jarnes) or
    two swapped letters in a short name (aan)."""
    if ocr_key(a) == ocr_key(b):
        return True
    return len(a) == len(b) and sorted(a) == sorted(b) and DamerauLevenshtein.distance(a, b) == 1


def _misspelt(a: str, b: str) -> bool:
    """A slip of a known given name, and not a known name itself (dayid ~ david); two known
    names one letter apart are two names (marta, maria). What counts as a slip, short names
    included (ana, ada: not one; aa: one), is `known_readings`'s rule."""
    known_a, known_b = is_known_given_name(a), is_known_given_name(b)
    if known_a == known_b:
        return False
    known, other = (a, b) if known_a else (b, a)
    return known in known_readings(other)


def _typo_of_nickname(a: str, b: str) -> bool:
    """A typo of a nickname form of the other name (jmi ~ jim ~ james, frncisco ~ paco). A
    known name is no typo: joe is one letter from jon, and joe and john are two people."""
    return any(
        DamerauLevenshtein.distance(x, form) <= 1
        for x, y in ((a, b), (b, a))
        if len(x) >= 3 and not is_known_given_name(x)
        for form in nickname_forms(y)
        if len(form) >= 3
    )


def _slips_of(a: str, b: str, related: Callable[[str, str], bool]) -> bool:
    """Slips of names that are related, whichever name each slip is read as (makr and mwrk are
    both mark; jirn is jim, a form of james). Two known names are names, not slips."""
    if is_known_given_name(a) and is_known_given_name(b):
        return False
    readings_a, readings_b = known_readings(a), known_readings(b)
    return (
        bool(readings_a and readings_b)
        and all(any(related(x, y) for y in readings_b) for x in readings_a)
        and all(any(related(x, y) for x in readings_a) for y in readings_b)
    )


def _same_or_nicknames(a: str, b: str) -> bool:
    return a == b or are_nicknames(a, b)


# Names repeat across a batch (common names meet each other thousands of times): the string
# rules are pure, so their answers are kept.
NAME_CACHE_SIZE = 1 << 16


@lru_cache(maxsize=NAME_CACHE_SIZE)
def _given(a: str, b: str) -> str:
    if a == b:
        return "exact"
    first_a, first_b = a.split(maxsplit=1)[0], b.split(maxsplit=1)[0]
    similarity = JaroWinkler.similarity(a, b)
    rules: tuple[tuple[str, Callable[[], bool]], ...] = (
        (
            "nickname",
            lambda: first_a == first_b or are_nicknames(first_a, first_b) or are_nicknames(a, b),
        ),
        ("close", lambda: similarity >= 0.92 or _misread(a, b)),
        ("close", lambda: _misspelt(first_a, first_b)),
        ("nickname", lambda: _typo_of_nickname(first_a, first_b)),
        ("close", lambda: _slips_of(first_a, first_b, str.__eq__)),
        ("nickname", lambda: _slips_of(first_a, first_b, _same_or_nicknames)),
        ("phonetic", lambda: phonetic(first_a) == phonetic(first_b)),
        ("fuzzy", lambda: similarity >= 0.80),
    )
    return next((level for level, holds in rules if holds()), DIFFERENT)


@lru_cache(maxsize=NAME_CACHE_SIZE)
def _family(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if set(a.split()) & set(b.split()):
        return "token_overlap"  # Spanish/Portuguese double surnames, one of them dropped
    similarity = JaroWinkler.similarity(a, b)
    if similarity >= 0.92 or _misread(a, b):
        return "close"
    if phonetic(a.split(maxsplit=1)[0]) == phonetic(b.split(maxsplit=1)[0]):
        return "phonetic"
    if similarity >= 0.80:
        return "fuzzy"
    return DIFFERENT


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _email(a: MatchRecord, b: MatchRecord) -> str:
    assert a.email and b.email
    if a.email == b.email:
        return "exact"
    if a.email_canonical is not None and a.email_canonical == b.email_canonical:
        return "canonical"
    local_a, domain_a = a.email.rsplit("@", 1)
    local_b, domain_b = b.email.rsplit("@", 1)
    if (
        domain_a == domain_b
        and DamerauLevenshtein.distance(local_a, local_b) <= 1
        # Name-based addresses of two people often differ by their numbers alone
        # (garcia.antonio5281, garcia.antonio5251): a typo keeps the digits.
        and _digits(local_a) == _digits(local_b)
    ):
        return "close"
    return DIFFERENT


def _phone(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if DamerauLevenshtein.distance(a, b) <= 1:
        return "close"
    return DIFFERENT


def _dob(a: str, b: str) -> str:
    if a == b:
        return "exact"
    ya, ma, da = a.split("-")
    yb, mb, db = b.split("-")
    if ya == yb and ma == db and da == mb:
        return "transposed"
    differing = (ya != yb) + (ma != mb) + (da != db)
    if differing == 1:
        return "one_component"
    return DIFFERENT


def _address(a: MatchRecord, b: MatchRecord) -> str:
    same_street = _similar(a.street, b.street)
    if a.postal_code == b.postal_code:
        if same_street:
            return "same_address" if a.house_number == b.house_number else "same_street"
        return "same_postcode"
    # The same street and number in one town under another postcode is one building with a
    # mistyped code (5031 for 5013), even with the town's name mistyped too; for anything less
    # only an exact town counts, as neighbouring codes of a city (28012, 28013) are other
    # districts.
    if same_street and a.house_number == b.house_number and _similar(a.locality, b.locality):
        return "same_address"
    if a.locality and a.locality == b.locality:
        return "same_locality"
    return DIFFERENT


def _similar(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and JaroWinkler.similarity(a, b) >= 0.9


def _gov_id(a: MatchRecord, b: MatchRecord) -> str:
    if a.gov_kind != b.gov_kind:
        return NULL  # a passport and a national id say nothing about each other
    assert a.gov_value and b.gov_value
    if a.gov_value == b.gov_value:
        return "exact"
    if DamerauLevenshtein.distance(a.gov_value, b.gov_value) <= 1:
        return "one_edit"
    return DIFFERENT


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str
    levels: tuple[str, ...]  # strongest agreement first, then `different`; `null` is implicit
    compare: Callable[[MatchRecord, MatchRecord], str]


def _on(attr: str, rule: Callable[[str, str], str]) -> Callable[[MatchRecord, MatchRecord], str]:
    def compare(a: MatchRecord, b: MatchRecord) -> str:
        va, vb = getattr(a, attr), getattr(b, attr)
        return NULL if va is None or vb is None else rule(va, vb)

    return compare


def _when(
    *attrs: str,
) -> Callable[
    [Callable[[MatchRecord, MatchRecord], str]], Callable[[MatchRecord, MatchRecord], str]
]:
    def wrap(
        rule: Callable[[MatchRecord, MatchRecord], str],
    ) -> Callable[[MatchRecord, MatchRecord], str]:
        def compare(a: MatchRecord, b: MatchRecord) -> str:
            # A loop, not any(...): a generator per comparison was a tenth of a bulk import.
            for x in attrs:
                if getattr(a, x) is None or getattr(b, x) is None:
                    return NULL
            return rule(a, b)

        return compare

    return wrap


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "given_name",
        ("exact", "nickname", "close", "phonetic", "fuzzy", DIFFERENT),
        _on("given", _given),
    ),
    Comparison(
        "family_name",
        ("exact", "token_overlap", "close", "phonetic", "fuzzy", DIFFERENT),
        _on("family", _family),
    ),
    Comparison("email", ("exact", "canonical", "close", DIFFERENT), _when("email")(_email)),
    Comparison("phone", ("exact", "close", DIFFERENT), _on("phone", _phone)),
    Comparison(
        "date_of_birth", ("exact", "transposed", "one_component", DIFFERENT), _on("dob", _dob)
    ),
    Comparison(
        "address",
        ("same_address", "same_street", "same_postcode", "same_locality", DIFFERENT),
        _when("postal_code")(_address),
    ),
    Comparison(
        "government_id", ("exact", "one_edit", DIFFERENT), _when("gov_kind", "gov_value")(_gov_id)
    ),
)
COMPARISON_BY_FIELD = {c.field: c for c in COMPARISONS}
NAME_COMPARISONS = (COMPARISON_BY_FIELD["given_name"], COMPARISON_BY_FIELD["family_name"])


def compare_records(a: MatchRecord, b: MatchRecord) -> dict[str, str]:
    """The comparison vector: field → level."""
    return {c.field: c.compare(a, b) for c in COMPARISONS}
