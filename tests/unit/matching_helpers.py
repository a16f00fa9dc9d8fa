"""Build MatchRecords from raw attributes the way ingestion does."""

from __future__ import annotations

from datetime import date
from typing import Any

from mds.domain.normalization import normalize_attributes
from mds.matching.record import MatchRecord, match_record

TODAY = date(2026, 11, 25)


def record(**attributes: Any) -> MatchRecord:
    return match_record(normalize_attributes(attributes, default_region="ES", today=TODAY))


# One person with every field filled: the reference record of the matching tests.
ANA_ATTRIBUTES: dict[str, Any] = {
    "given_name": "Ana",
    "family_name": "García López",
    "email": "ana.garcia@example.com",
    "phone": "+34 612 345 678",
    "date_of_birth": "1990-04-01",
    "address": {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"},
    "government_id": {"type": "national_id", "country": "ES", "value": "12345678Z"},
}
ANA = record(**ANA_ATTRIBUTES)
