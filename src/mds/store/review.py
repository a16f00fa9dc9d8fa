"""The review queue (`potential_duplicates`): proposals made during resolution."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.store.models import PotentialDuplicate


@dataclass(frozen=True, slots=True)
class ReviewItem:
    user_a: uuid.UUID
    user_b: uuid.UUID
    user_a_version: int
    user_b_version: int
    score: float
    explanation: dict[str, Any]
    model_version: int | None
    risk: str


def propose(session: Session, items: Sequence[ReviewItem]) -> int:
    """Open an item per pair unless one is open already; return how many were opened."""
    rows = []
    for item in items:
        a, b = sorted((item.user_a, item.user_b))
        versions = (
            (item.user_a_version, item.user_b_version)
            if a == item.user_a
            else (item.user_b_version, item.user_a_version)
        )
        rows.append(
            {
                "id": uuid.uuid4(),
                "user_a": a,
                "user_b": b,
                "user_a_version": versions[0],
                "user_b_version": versions[1],
                "score": item.score,
                "explanation": item.explanation,
                "model_version": item.model_version,
                "risk": item.risk,
            }
        )
    if not rows:
        return 0
    result = session.execute(
        insert(PotentialDuplicate)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=["user_a", "user_b"], index_where=text("status = 'open'")
        )
        .returning(PotentialDuplicate.id)
    )
    return len(result.all())
