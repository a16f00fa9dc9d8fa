"""Build MatchRecords from raw attributes the way ingestion does."""

from __future__ import annotations

from datetime import date
from typing import Any

from mds.domain.normalization import normalize_attributes
from mds.matching.record import MatchRecord, match_record

TODAY = date(2026, 11, 25)


def record(**attributes: Any) -> MatchRecord:
    return match_record(normalize_attributes(attributes, default_region="ES", today=TODAY))
