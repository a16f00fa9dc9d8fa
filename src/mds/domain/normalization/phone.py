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
