"""Blocking keys: several per record, so a pair missed by one key is caught by another.

Keys are plain strings here; the service stores them as HMAC blind indexes in `match_keys`.
Rules are chosen so each kind of error in the quality generator leaves at least one key intact:
a changed email still has phone and name+dob; a typo in a surname still has given name + dob;
transposed day/month still has the order-free date key; swapped names use both name orders;
typos in every name and in the id still have the birth date and the town; two digits of an
id swapped, and every other field mistyped or missing, still have the id's digits in order.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish

from mds.domain.normalization.names import nickname_groups
from mds.matching.record import MatchRecord

# The fields each kind of key makes its pairs agree on (wholly or in part): within a block
# they are no evidence, since matches and non-matches alike agree there (EM leaves them out).
FIELDS_BLOCKED_BY = {
    "email": ("email",),
    "phone": ("phone",),
    "gov_id": ("government_id",),
    "gov_id_digits": ("given_name", "government_id"),
    "name_dob": ("given_name", "family_name", "date_of_birth"),
    "address": ("address",),
    "name_postcode": ("given_name", "family_name", "address"),
    "full_name": ("given_name", "family_name"),
    "dob_place": ("date_of_birth", "address"),
}


@lru_cache(maxsize=65_536)
def phonetic(token: str) -> str:
    return jellyfish.metaphone(token) or token


def _first_token(value: str | None) -> str | None:
    return value.split()[0] if value else None


def _date_unordered(dob: str) -> str:
    year, month, day = dob.split("-")
    return f"{year}:{'-'.join(sorted((month, day)))}"


def blocking_keys(record: MatchRecord) -> list[tuple[str, str]]:
    keys = _identifier_keys(record)
    given = _first_token(record.given)
    if given and record.gov_kind and record.gov_value:
        # An id's characters in sorted order survive the commonest typo of a number, two
        # digits swapped. Alone they are shared by too many (7 digits make about 11k such
        # sets), so the given name's initial narrows them: in the 1M-user benchmark store,
        # 1.1 identities per key on average and 8 at most.
        digits = "".join(sorted(record.gov_value))
        keys.append(("gov_id_digits", f"{record.gov_kind}|{digits}|{given[0]}"))
    families = record.family.split() if record.family else []
    if record.dob:
        keys += _dated_keys(record, record.dob, given, families)
    if record.postal_code and record.house_number:
        # Where someone lives, whatever their name is spelt like: households share it too,
        # which keeps the block small and the decision to the comparisons.
        keys.append(("address", f"{record.postal_code}|{record.house_number}"))
    if given and families and record.postal_code:
        keys.append(("name_postcode", f"{given[:2]}|{phonetic(families[0])}|{record.postal_code}"))
    if given and families:
        # Both names phonetically, order-free: catches a changed birth date with a typo-free name.
        pair = "|".join(sorted((phonetic(given), phonetic(families[0]))))
        keys.append(("full_name", pair))
        # Nickname groups stand in for the given name (Rick Smith ~ Richard Smith).
        for group in sorted(nickname_groups(given)):
            keys.append(("full_name", f"nick{group}|{phonetic(families[0])}"))
    return list(dict.fromkeys(keys))


def _identifier_keys(record: MatchRecord) -> list[tuple[str, str]]:
    keys = []
    if record.email:
        keys.append(("email", record.email))
    if record.email_canonical and record.email_canonical != record.email:
        keys.append(("email", record.email_canonical))
    if record.phone:
        keys.append(("phone", record.phone))
    if record.gov_kind and record.gov_value:
        keys.append(("gov_id", f"{record.gov_kind}|{record.gov_value}"))
    return keys


def _dated_keys(
    record: MatchRecord, dob: str, given: str | None, families: list[str]
) -> list[tuple[str, str]]:
    undated = _date_unordered(dob)
    keys = []
    # Any one name token (given or either surname) with the order-free date: tolerates typos in
    # the other names, swapped given/family names and day/month transpositions.
    names = [n for n in ([given] if given else []) + families if n]
    for name in dict.fromkeys(phonetic(n) for n in names):
        keys.append(("name_dob", f"{name}|{undated}"))
    if given:
        for group in sorted(nickname_groups(given)):
            keys.append(("name_dob", f"nick{group}|{undated}"))
    if record.locality:
        # Born the same day in the same town: survives typos in every name and in the id (a
        # heavily mistyped record), and stays small in a large store.
        keys.append(("dob_place", f"{undated}|{record.locality}"))
    return keys
