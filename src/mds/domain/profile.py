"""The golden profile of a canonical user and which of its attributes are PII."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Attributes stored only as ciphertext; everything else on a profile is plain.
PII_ATTRIBUTES: tuple[str, ...] = (
    "given_name",
    "family_name",
    "email",
    "phone",
    "date_of_birth",
    "address",
    "government_id",
)


@dataclass(frozen=True, slots=True)
class Profile:
    """Golden values of one canonical user. Structured values (address, id) are dicts."""

    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    date_of_birth: str | None = None
    address: dict[str, Any] | None = None
    government_id: dict[str, Any] | None = None
    locale: str | None = None
    preferences: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
