"""The signals inbox: idempotency by (source_system, event_id), and each signal's outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.store import driver

# Arrays and unnest: one statement, compiled once, whatever the batch size.
_ACCEPT = driver.compiled(
    text(
        "INSERT INTO signals"
        " (source_system, event_id, source_record_id, event_type, payload_digest, occurred_at)"
        " SELECT * FROM unnest(CAST(:systems AS text[]), CAST(:events AS text[]),"
        "   CAST(:records AS text[]), CAST(:types AS text[]), CAST(:digests AS bytea[]),"
        "   CAST(:times AS timestamptz[]))"
        " ON CONFLICT (source_system, event_id) DO NOTHING"
        " RETURNING id, source_system, event_id"
    )
)
_PRIOR_OUTCOMES = driver.compiled(
    text(
        "SELECT s.source_system, s.event_id, s.outcome, s.user_id, s.score FROM signals s"
        " JOIN unnest(CAST(:systems AS text[]), CAST(:events AS text[])) AS k(system, event)"
        " ON s.source_system = k.system AND s.event_id = k.event"
    )
)
_RECORD_OUTCOMES = driver.compiled(
    text(
        "UPDATE signals SET outcome = v.outcome, user_id = v.user_id,"
        " source_identity_id = v.source_identity_id, score = v.score, issues = v.issues"
        " FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[]),"
        "   CAST(:users AS uuid[]), CAST(:identities AS uuid[]), CAST(:scores AS float8[]),"
        "   CAST(:issues AS jsonb[]))"
        "   AS v(id, outcome, user_id, source_identity_id, score, issues)"
        " WHERE signals.id = v.id"
    )
)


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
    result = driver.tuples(
        session,
        _ACCEPT,
        {
            "systems": [e.source_system for e in entries],
            "events": [e.event_id for e in entries],
            "records": [e.source_record_id for e in entries],
            "types": [e.event_type for e in entries],
            "digests": [e.payload_digest for e in entries],
            "times": [e.occurred_at for e in entries],
        },
    )
    return {(system, event): sid for sid, system, event in result}


def prior_outcomes(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], PriorOutcome]:
    if not keys:
        return {}
    rows = driver.tuples(
        session,
        _PRIOR_OUTCOMES,
        {"systems": [system for system, _ in keys], "events": [event for _, event in keys]},
    )
    return {(r[0], r[1]): PriorOutcome(r[2], r[3], r[4]) for r in rows}


def record_outcomes(session: Session, outcomes: Sequence[dict[str, Any]]) -> None:
    """outcomes: dicts with signal_id, outcome, user_id, source_identity_id, score, issues."""
    if not outcomes:
        return
    driver.execute(
        session,
        _RECORD_OUTCOMES,
        {
            "ids": [o["signal_id"] for o in outcomes],
            "outcomes": [o["outcome"] for o in outcomes],
            "users": [o["user_id"] for o in outcomes],
            "identities": [o["source_identity_id"] for o in outcomes],
            "scores": [o["score"] for o in outcomes],
            "issues": [Jsonb(o["issues"]) for o in outcomes],
        },
    )
