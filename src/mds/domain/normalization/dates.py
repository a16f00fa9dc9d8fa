"""Birth dates: year-first forms to ISO; impossible or implausible dates are refused."""

from __future__ import annotations

import re
from datetime import date

_YEAR_FIRST = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})(?:[T ].*)?$")
EARLIEST_BIRTH_YEAR = 1900


class InvalidDateError(ValueError):
    """The message says what is wrong without echoing the value (it is PII)."""


def normalize_birth_date(raw: str, today: date) -> date:
    match = _YEAR_FIRST.match(raw.strip())
    if not match:
        raise InvalidDateError("not a year-first date (YYYY-MM-DD)")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise InvalidDateError(f"month {month} is out of range")
    try:
        value = date(year, month, day)
    except ValueError:
        raise InvalidDateError(f"day {day} does not exist in month {month} of that year") from None
    if value > today:
        raise InvalidDateError("birth date is in the future")
    if year < EARLIEST_BIRTH_YEAR:
        raise InvalidDateError(f"birth year before {EARLIEST_BIRTH_YEAR}")
    return value
