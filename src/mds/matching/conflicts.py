"""High-risk conflicts: disagreements that forbid an automatic merge whatever the score."""

from __future__ import annotations

from collections.abc import Iterable

from mds.matching.comparisons import COMPARISON_BY_FIELD
from mds.matching.record import MatchRecord


def conflicts(incoming: MatchRecord, held: Iterable[MatchRecord]) -> tuple[str, ...]:
    """Two *valid*, different government ids of one kind (one edit apart is a typo).

    Valid means its kind's check passed. Ids of kinds with no check (passports, most
    countries' numbers) that differ are scored as a disagreement, not a conflict: a renewed
    passport or a mistyped number does not prove two people.
    """
    found: list[str] = []
    compare = COMPARISON_BY_FIELD["government_id"].compare
    for record in held:
        if compare(incoming, record) != "different":
            continue
        if incoming.gov_valid is True and record.gov_valid is True:
            found.append(f"different valid government ids ({incoming.gov_kind})")
            break
    return tuple(found)
