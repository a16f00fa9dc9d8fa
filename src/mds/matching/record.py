"""The comparison view of one source identity: folded, normalized, and cheap to serialize."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mds.domain.normalization import NormalizedRecord


@dataclass(frozen=True, slots=True)
class MatchRecord:
    given: str | None = None
    family: str | None = None
    email: str | None = None
    email_canonical: str | None = None
    phone: str | None = None
    dob: str | None = None  # ISO date
    street: str | None = None
    house_number: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None
    gov_kind: str | None = None
    gov_value: str | None = None
    gov_valid: bool | None = None  # None: no checksum known for this kind

    def to_json(self) -> dict[str, Any]:
        return {k: v for k in _FIELDS if (v := getattr(self, k)) is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MatchRecord:
        # Every candidate identity a batch reads is decoded here: the field names are looked
        # up once, not per record (dataclasses.fields was 3% of a bulk import).
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SET})

    def merged_with(self, newer: MatchRecord) -> MatchRecord:
        """This record updated by a newer one: the newer value wins where it has one."""
        return MatchRecord(
            **{
                k: theirs if (theirs := getattr(newer, k)) is not None else getattr(self, k)
                for k in _FIELDS
            }
        )


_FIELDS = tuple(f.name for f in fields(MatchRecord))
_FIELD_SET = frozenset(_FIELDS)


def match_record(normalized: NormalizedRecord) -> MatchRecord:
    address = normalized.address
    gov = normalized.government_id
    return MatchRecord(
        given=normalized.given_name.folded if normalized.given_name else None,
        family=normalized.family_name.folded if normalized.family_name else None,
        email=normalized.email.value if normalized.email else None,
        email_canonical=normalized.email.canonical if normalized.email else None,
        phone=normalized.phone or normalized.unverified_phone,
        dob=normalized.date_of_birth.isoformat() if normalized.date_of_birth else None,
        street=" ".join(address.street_tokens) or None if address else None,
        house_number=address.house_number if address else None,
        locality=address.locality if address else None,
        postal_code=address.postal_code if address else None,
        country=address.country if address else None,
        gov_kind=gov.kind if gov else None,
        gov_value=gov.value if gov else None,
        gov_valid=gov.checksum_valid if gov else None,
    )
