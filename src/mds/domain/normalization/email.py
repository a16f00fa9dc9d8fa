"""Email addresses: lower-cased as the stored form; a provider-aware form for comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
# Providers that ignore dots in the local part; most providers honour "+tag" sub-addressing.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True, slots=True)
class NormalizedEmail:
    value: str  # lower-cased, what the golden record keeps
    canonical: str  # +tag dropped, provider dots dropped: a comparison level, never a rewrite


def normalize_email(raw: str) -> NormalizedEmail | None:
    value = raw.strip().lower()
    if not _SHAPE.match(value):
        return None
    local, domain = value.rsplit("@", 1)
    base = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        domain = _DOTLESS[domain]
        base = base.replace(".", "")
    return NormalizedEmail(value, f"{base}@{domain}")
