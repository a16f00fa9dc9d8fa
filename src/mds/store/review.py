"""The review queue (`potential_duplicates`): proposals made during resolution."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.domain.ids import new_id
from mds.store import driver
from mds.store.bulk import any_bound
from mds.store.models import RISKS, PotentialDuplicate


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


def propose(session: Session, items: Sequence[ReviewItem]) -> list[ReviewItem]:
    """Open an item per pair unless one is open already, or the pair was rejected at a score
    at least as high (no new evidence); return the items opened."""
    rejected = rejected_pairs(session, [u for i in items for u in (i.user_a, i.user_b)])
    rows, offered = [], {}
    for item in items:
        a, b = sorted((item.user_a, item.user_b))
        offered[(a, b)] = item
        if item.score <= rejected.get((a, b), -1.0):
            continue
        versions = (
            (item.user_a_version, item.user_b_version)
            if a == item.user_a
            else (item.user_b_version, item.user_a_version)
        )
        rows.append(
            {
                "id": new_id(),
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
        return []
    # Executemany with one cached statement: a multi-row VALUES would be compiled anew for
    # every batch, which cost more than the insert itself.
    result = session.execute(
        insert(PotentialDuplicate)
        .on_conflict_do_nothing(
            index_elements=["user_a", "user_b"], index_where=text("status = 'open'")
        )
        .returning(PotentialDuplicate.user_a, PotentialDuplicate.user_b),
        rows,
    )
    return [offered[(a, b)] for a, b in result.all()]


_REJECTED = driver.compiled(
    select(PotentialDuplicate.user_a, PotentialDuplicate.user_b, PotentialDuplicate.score).where(
        PotentialDuplicate.status == literal_column("'rejected'"),
        any_bound(PotentialDuplicate.user_a, "ids"),
        any_bound(PotentialDuplicate.user_b, "ids"),
    )
)


def rejected_pairs(
    session: Session, user_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], float]:
    """Pairs among these users a reviewer rejected (or split apart), with the highest score
    they were rejected at."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    rows = driver.tuples(session, _REJECTED, {"ids": wanted})
    pairs: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
    for a, b, score in rows:
        pairs[(a, b)] = max(score, pairs.get((a, b), -1.0))
    return pairs


_OPEN_SIDE = (
    "SELECT user_a, user_b FROM potential_duplicates"
    " WHERE status = 'open' AND {} IN (SELECT unnest(CAST(:ids AS uuid[])))"
)
_OPEN_PAIRS = driver.compiled(
    text(f"{_OPEN_SIDE.format('user_a')} UNION {_OPEN_SIDE.format('user_b')}")
)


def open_pairs(
    session: Session, user_ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The pairs of the open items about these users."""
    wanted = list(set(user_ids))
    if not wanted:
        return []
    # One semi-join per side, which PostgreSQL plans as the queue's size asks. Measured in the
    # 1M-user store (2,500 ids, a prepared statement): 6 ms with 5.6k open items and 10 ms
    # with 155k; `user_a = ANY(:ids) OR user_b = ANY(:ids)` took 6-45 ms by which plan the
    # cache held (20 ms per batch of 500 signals on average), one OR'ed `IN` 5 and 27 ms.
    return [(a, b) for a, b in driver.tuples(session, _OPEN_PAIRS, {"ids": wanted})]


def open_counts(session: Session) -> dict[str, int]:
    """Open review items by risk (every risk named, zero included): the stewards' backlog."""
    d = PotentialDuplicate
    counted = session.execute(
        select(d.risk, func.count()).where(d.status == "open").group_by(d.risk)
    )
    return {risk: 0 for risk in RISKS} | {risk: int(count) for risk, count in counted}


_CLOSE_STALE = driver.compiled(
    text(
        "UPDATE potential_duplicates p"
        " SET status = 'stale', decided_at = now(), decided_by = 'system',"
        "     reason = 'a user changed after the item was opened'"
        " FROM canonical_users a, canonical_users b"
        " WHERE p.status = 'open'"
        "   AND (p.user_a = ANY(CAST(:ids AS uuid[])) OR p.user_b = ANY(CAST(:ids AS uuid[])))"
        "   AND a.id = p.user_a AND b.id = p.user_b"
        "   AND (a.version <> p.user_a_version OR b.version <> p.user_b_version"
        "        OR a.status <> 'active' OR b.status <> 'active')"
    )
)


def close_stale(session: Session, user_ids: Sequence[uuid.UUID]) -> None:
    """Open items about these users whose versions moved (they changed or merged since the item
    was opened) no longer show what is true: they close as `stale`."""
    wanted = list(set(user_ids))
    if wanted:
        driver.execute(session, _CLOSE_STALE, {"ids": wanted})


def record_rejection(
    session: Session, pair: tuple[uuid.UUID, uuid.UUID], *, actor: str, reason: str
) -> None:
    """A decided non-match with no queue item behind it (a split): never merged back blindly."""
    a, b = sorted(pair)
    session.execute(
        insert(PotentialDuplicate).values(
            id=new_id(),
            user_a=a,
            user_b=b,
            user_a_version=0,
            user_b_version=0,
            score=1.0,
            explanation={"reasons": ["split by a steward"]},
            status="rejected",
            decided_by=actor,
            decided_at=text("now()"),
            reason=reason,
        )
    )
