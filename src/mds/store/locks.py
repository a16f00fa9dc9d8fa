"""Transaction-scoped advisory locks on blocking-key hashes, always taken in sorted order."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_id(digest: bytes) -> int:
    """A 64-bit advisory lock id from a blind-index digest."""
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_hashes(session: Session, digests: Iterable[bytes]) -> int:
    """Block until this transaction holds every lock; sorted, so two batches never deadlock."""
    ids = sorted({lock_id(d) for d in digests})
    if ids:
        session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(k))"
                " FROM (SELECT k FROM unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) AS sorted"
            ),
            {"ids": ids},
        )
    return len(ids)
