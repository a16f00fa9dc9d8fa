"""Blind-index lookups: which users and source identities carry a given normalized value."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.store.models import MatchKey


def add_keys(
    session: Session,
    source_identity_id: uuid.UUID,
    user_id: uuid.UUID | None,
    keys: Iterable[tuple[str, bytes]],
) -> None:
    rows = [
        {
            "key_type": key_type,
            "key_hash": key_hash,
            "source_identity_id": source_identity_id,
            "user_id": user_id,
        }
        for key_type, key_hash in keys
    ]
    if rows:
        session.execute(insert(MatchKey).values(rows).on_conflict_do_nothing())


def users_with_keys(session: Session, keys: Iterable[tuple[str, bytes]]) -> set[uuid.UUID]:
    wanted = list(keys)
    if not wanted:
        return set()
    found = session.scalars(
        select(MatchKey.user_id)
        .where(tuple_(MatchKey.key_type, MatchKey.key_hash).in_(wanted))
        .where(MatchKey.user_id.is_not(None))
        .distinct()
    )
    return {user_id for user_id in found if user_id is not None}
