"""Phone numbers to E.164 with Google's libphonenumber rules."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=65_536)
def normalize_phone(raw: str, default_region: str | None) -> str | None:
    """E.164 for a valid number, else None. Numbers without +CC use the default region."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65_536)
def unverified_phone(raw: str, default_region: str | None) -> str | None:
    """E.164 for a number of a possible length that its country's plan does not list as valid
    (a range newer than the metadata, a pager, a mistyped digit), else None: not a value to
    keep, but two records carrying it are evidence all the same. Filler such as 600 000 000
    (one or two distinct digits) is nobody's number."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed) or len(set(str(parsed.national_number))) <= 2:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
