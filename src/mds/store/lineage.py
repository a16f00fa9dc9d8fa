"""Attribute lineage: which source identity and signal supplied each golden value, and why."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.orm import Session

from mds.store import driver
from mds.store.bulk import any_bound, any_of, copy_rows
from mds.store.models import AttributeLineage, table_of

_T = table_of(AttributeLineage)


@dataclass(frozen=True, slots=True)
class LineageEntry:
    user_id: uuid.UUID
    attribute: str
    source_identity_id: uuid.UUID | None
    signal_id: int | None
    value_digest: bytes | None
    rule: str
    observed_at: datetime | None


_CURRENT = driver.compiled(
    select(
        AttributeLineage.id,
        AttributeLineage.user_id,
        AttributeLineage.attribute,
        AttributeLineage.source_identity_id,
        AttributeLineage.signal_id,
        AttributeLineage.value_digest,
        AttributeLineage.rule,
        AttributeLineage.observed_at,
    ).where(any_bound(AttributeLineage.user_id, "ids"), AttributeLineage.is_current)
)


def current(
    session: Session, user_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], tuple[int, LineageEntry]]:
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    rows = driver.rows(session, _CURRENT, {"ids": wanted})
    return {
        (r.user_id, r.attribute): (
            r.id,
            LineageEntry(
                r.user_id,
                r.attribute,
                r.source_identity_id,
                r.signal_id,
                bytes(r.value_digest) if r.value_digest is not None else None,
                r.rule,
                r.observed_at,
            ),
        )
        for r in rows
    }


_SUPERSEDE = driver.compiled(
    update(_T)
    .where(any_bound(_T.c.id, "ids"))
    .values(is_current=literal_column("false"), superseded_at=func.now())
)


def replace(
    session: Session, superseded_ids: Sequence[int], entries: Sequence[LineageEntry]
) -> None:
    """Mark the old rows superseded (kept), then insert the new current ones."""
    if superseded_ids:
        driver.execute(session, _SUPERSEDE, {"ids": list(superseded_ids)})
    if entries:
        copy_rows(
            session,
            _T,
            [
                {
                    "user_id": e.user_id,
                    "attribute": e.attribute,
                    "source_identity_id": e.source_identity_id,
                    "signal_id": e.signal_id,
                    "value_digest": e.value_digest,
                    "rule": e.rule,
                    "observed_at": e.observed_at,
                }
                for e in entries
            ],
        )


def forget_values(session: Session, user_ids: Sequence[uuid.UUID]) -> None:
    """Erasure: drop the value digests (a keyed hash still confirms a guessed value)."""
    if user_ids:
        session.execute(
            update(_T)
            .where(any_of(_T.c.user_id, user_ids))
            .values(
                value_digest=None,
                is_current=False,
                superseded_at=func.coalesce(_T.c.superseded_at, func.now()),
            )
        )


def forget_sources(
    session: Session, user_ids: Sequence[uuid.UUID], identity_ids: Sequence[uuid.UUID]
) -> None:
    """Erasure of source identities: drop the digests of the values they supplied to these
    users that no longer stand (the users' index finds the rows; lineage has none on the
    source identity). A current row stands for a value the identity still holds: one it said
    after an erasure request that reached it late."""
    if user_ids and identity_ids:
        session.execute(
            update(_T)
            .where(
                any_of(_T.c.user_id, user_ids),
                any_of(_T.c.source_identity_id, identity_ids),
                _T.c.is_current.is_(False),
            )
            .values(value_digest=None)
        )
