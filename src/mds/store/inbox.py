"""The signals inbox: idempotency by (source_system, event_id), and each signal's outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.store.models import Signal, table_of


@dataclass(frozen=True, slots=True)
class InboxEntry:
    source_system: str
    event_id: str
    source_record_id: str
    event_type: str
    payload_digest: bytes
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PriorOutcome:
    outcome: str | None
    user_id: uuid.UUID | None
    score: float | None


def accept(session: Session, entries: Sequence[InboxEntry]) -> dict[tuple[str, str], int]:
    """Insert new signals; return {(source_system, event_id): signal id} for the new ones only."""
    if not entries:
        return {}
    rows = [
        {
            "source_system": e.source_system,
            "event_id": e.event_id,
            "source_record_id": e.source_record_id,
            "event_type": e.event_type,
            "payload_digest": e.payload_digest,
            "occurred_at": e.occurred_at,
        }
        for e in entries
    ]
    statement = (
        insert(Signal)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["source_system", "event_id"])
        .returning(Signal.id, Signal.source_system, Signal.event_id)
    )
    return {(system, event): sid for sid, system, event in session.execute(statement)}


def prior_outcomes(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], PriorOutcome]:
    if not keys:
        return {}
    rows = session.execute(
        select(
            Signal.source_system, Signal.event_id, Signal.outcome, Signal.user_id, Signal.score
        ).where(tuple_(Signal.source_system, Signal.event_id).in_(list(keys)))
    )
    return {(r[0], r[1]): PriorOutcome(r[2], r[3], r[4]) for r in rows}


def record_outcomes(session: Session, outcomes: Sequence[dict[str, Any]]) -> None:
    """outcomes: dicts with signal_id, outcome, user_id, source_identity_id, score, issues."""
    if not outcomes:
        return
    session.execute(
        update(table_of(Signal))
        .where(table_of(Signal).c.id == bindparam("signal_id"))
        .values(
            outcome=bindparam("outcome"),
            user_id=bindparam("user_id"),
            source_identity_id=bindparam("source_identity_id"),
            score=bindparam("score"),
            issues=bindparam("issues"),
        ),
        list(outcomes),
    )


def count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM signals")).scalar_one())
