"""Government identifiers: a canonical form per type and, where a checksum exists, validity."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s./-]")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DNI = re.compile(r"^(\d{8})([A-Z])$")
_NIE = re.compile(r"^([XYZ])(\d{7})([A-Z])$")
_SSN = re.compile(r"^(\d{3})(\d{2})(\d{4})$")
_GENERIC = re.compile(r"^[A-Z0-9]{4,32}$")


@dataclass(frozen=True, slots=True)
class NormalizedGovernmentId:
    type: str
    country: str | None
    value: str
    checksum_valid: bool | None  # None: this type has no checksum we know

    @property
    def kind(self) -> str:
        """What must agree for two ids to be comparable: type and country."""
        return f"{self.type}:{self.country or ''}"

    def as_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "country": self.country, "value": self.value}


class InvalidGovernmentIdError(ValueError):
    pass


def _spanish_check(value: str) -> bool | None:
    if match := _DNI.match(value):
        return _DNI_LETTERS[int(match.group(1)) % 23] == match.group(2)
    if match := _NIE.match(value):
        number = int(str("XYZ".index(match.group(1))) + match.group(2))
        return _DNI_LETTERS[number % 23] == match.group(3)
    return None


def _us_ssn_check(value: str) -> bool | None:
    match = _SSN.match(value)
    if not match:
        return False
    area, group, serial = match.groups()
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def normalize_government_id(
    id_type: str, country: str | None, raw_value: str
) -> NormalizedGovernmentId:
    kind = id_type.strip().lower().replace(" ", "_")
    nation = country.strip().upper() if country and country.strip() else None
    value = _SEPARATORS.sub("", raw_value).upper()
    if not _GENERIC.match(value):
        raise InvalidGovernmentIdError("identifier must be 4 to 32 letters or digits")
    checksum: bool | None = None
    if nation == "ES" and kind in {"national_id", "dni", "nie", "nif"}:
        checksum = _spanish_check(value)
        kind = "national_id"
    elif nation == "US" and kind in {"ssn", "national_id"}:
        checksum = _us_ssn_check(value)
        kind = "ssn"
    return NormalizedGovernmentId(kind, nation, value, checksum)
