"""Postal addresses: display form kept; comparison tokens with street types expanded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mds.domain.normalization.text import display, fold

_ABBREVIATIONS = {
    "st": "street",
    "str": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenida",
    "avda": "avenida",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "c": "calle",
    "cl": "calle",
    "pza": "plaza",
    "pl": "plaza",
    "po": "paseo",
    "pso": "paseo",
    "ctra": "carretera",
}
_NUMBER = re.compile(r"^\d+[a-z]?$")


@dataclass(frozen=True, slots=True)
class NormalizedAddress:
    display: dict[str, str]
    street_tokens: tuple[str, ...]
    house_number: str | None
    locality: str | None
    postal_code: str | None
    country: str | None


def normalize_postal_code(raw: str) -> str | None:
    value = re.sub(r"[\s-]", "", raw).upper()
    return value or None


def normalize_address(raw: dict[str, Any]) -> NormalizedAddress | None:
    shown = {k: display(str(v)) for k, v in raw.items() if v is not None and display(str(v))}
    if not shown:
        return None
    line = fold(" ".join(filter(None, [shown.get("line1"), shown.get("line2")])))
    words = [_ABBREVIATIONS.get(word, word) for word in line.split()]
    number = next((w for w in words if _NUMBER.match(w)), None)
    street = tuple(w for w in words if not _NUMBER.match(w))
    country = shown.get("country", "").upper() or None
    if country is not None:
        shown["country"] = country
    postal = normalize_postal_code(shown["postal_code"]) if "postal_code" in shown else None
    locality = fold(shown["locality"]) if "locality" in shown else None
    return NormalizedAddress(shown, street, number, locality or None, postal, country)
