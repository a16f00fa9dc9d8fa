"""Giving committed outbox rows their commit-ordered `position`, one sequencer at a time.

Readers that go by position (the relay, `GET /v1/changes`) must never skip a row: a row
written with a lower `seq` can commit after one with a higher `seq`, so `seq` cannot be a
cursor. The sequencer numbers only rows it can see (committed), under a transaction-level
advisory lock, so every row numbered later gets a higher position than every row numbered
before; per user, rows commit in `seq` order (their writers hold the user's row lock), so
positions keep each user's order too.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.store.bulk import rows_changed

# An arbitrary constant: the advisory lock that makes the sequencer a singleton.
SEQUENCER_LOCK = 0x6D64735F73657131  # "mds_seq1"
DEFAULT_BATCH = 10_000


def sequence(session: Session, limit: int = DEFAULT_BATCH, *, wait: bool = False) -> int:
    """Number up to `limit` committed rows in `seq` order; 0 if another sequencer is at work
    (unless `wait`). Commits nothing itself: the caller's transaction does."""
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQUENCER_LOCK})
    elif not session.execute(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEQUENCER_LOCK}
    ).scalar_one():
        return 0
    # A fresh statement after the lock: its snapshot sees every earlier sequencer's numbers.
    ids = list(
        session.execute(
            text("SELECT id FROM outbox WHERE position IS NULL ORDER BY seq LIMIT :limit"),
            {"limit": limit},
        ).scalars()
    )
    if not ids:
        return 0
    # Positions come from one range reserved here rather than from nextval() inside the
    # UPDATE, where the plan decides how often and in which order nextval() runs (a test saw
    # positions out of seq order, with gaps). Only the sequencer, under its lock, draws from
    # this sequence.
    last = session.execute(
        text("SELECT setval('outbox_position_seq', nextval('outbox_position_seq') + :n - 1)"),
        {"n": len(ids)},
    ).scalar_one()
    first = last - len(ids) + 1
    session.execute(
        text(
            "UPDATE outbox o SET position = n.position"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:positions AS bigint[])) AS n(id, position)"
            " WHERE o.id = n.id"
        ),
        {"ids": ids, "positions": list(range(first, first + len(ids)))},
    )
    return len(ids)


def prune(session: Session, retention_hours: float, *, published_only: bool) -> int:
    """Delete rows older than the retention: published ones, or (no relay) numbered ones."""
    condition = (
        "published_at < now() - make_interval(secs => :secs)"
        if published_only
        else "position IS NOT NULL AND created_at < now() - make_interval(secs => :secs)"
    )
    result = session.execute(
        text(f"DELETE FROM outbox WHERE {condition}"), {"secs": retention_hours * 3600}
    )
    return rows_changed(result)
