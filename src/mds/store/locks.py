"""Advisory locks: transaction-scoped ones on blocking-key hashes, always taken in sorted order,
and session-scoped ones that keep a long job to one process at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from mds.store import driver

_LOCK_SORTED = driver.compiled(
    text(
        "SELECT count(pg_advisory_xact_lock(k))"
        " FROM (SELECT k FROM unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) AS sorted"
    )
)


def lock_id(digest: bytes) -> int:
    """A 64-bit advisory lock id from a blind-index digest."""
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_hashes(session: Session, digests: Iterable[bytes]) -> int:
    """Block until this transaction holds every lock; sorted, so two batches never deadlock."""
    ids = sorted({lock_id(d) for d in digests})
    if ids:
        driver.execute(session, _LOCK_SORTED, {"ids": ids})
    return len(ids)


@contextmanager
def held_alone(engine: Engine, key: int) -> Iterator[bool]:
    """A session-level advisory lock, on a connection of its own for the whole block (a pooled
    session would hand its connection, and the lock, to other work between transactions).
    Yields whether it was granted; never waits."""
    with engine.connect() as conn:
        granted = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield granted
        finally:
            if granted:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
