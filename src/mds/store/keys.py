"""Repository of wrapped data keys (`encryption_keys`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mds.store.models import EncryptionKey


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: uuid.UUID
    purpose: str
    state: str
    kek_id: str
    wrapped_key: bytes | None


def _stored(row: EncryptionKey) -> StoredKey:
    return StoredKey(row.id, row.purpose, row.state, row.kek_id, row.wrapped_key)


def all_keys(session: Session) -> list[StoredKey]:
    rows = session.scalars(select(EncryptionKey).order_by(EncryptionKey.created_at))
    return [_stored(row) for row in rows]


def get_key(session: Session, key_id: uuid.UUID) -> StoredKey | None:
    row = session.get(EncryptionKey, key_id)
    return None if row is None else _stored(row)


def add_key(session: Session, purpose: str, state: str, kek_id: str, wrapped: bytes) -> uuid.UUID:
    key_id = uuid.uuid4()
    session.add(
        EncryptionKey(id=key_id, purpose=purpose, state=state, kek_id=kek_id, wrapped_key=wrapped)
    )
    session.flush()
    return key_id


def demote_primary(session: Session, purpose: str) -> None:
    session.execute(
        update(EncryptionKey)
        .where(EncryptionKey.purpose == purpose, EncryptionKey.state == "primary")
        .values(state="active")
    )
    session.flush()


def rewrap(session: Session, key_id: uuid.UUID, kek_id: str, wrapped: bytes) -> None:
    session.execute(
        update(EncryptionKey)
        .where(EncryptionKey.id == key_id)
        .values(kek_id=kek_id, wrapped_key=wrapped)
    )
