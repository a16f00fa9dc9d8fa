"""Repository for source identities: the latest raw attributes each upstream record sent."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store.models import SourceIdentity

TABLE = "source_identities"


def attributes_cell(identity_id: uuid.UUID) -> CellContext:
    return CellContext(TABLE, "attributes_enc", str(identity_id))


def add_source_identity(
    session: Session,
    keyring: Keyring,
    *,
    source_system: str,
    source_record_id: str,
    user_id: uuid.UUID | None,
    attributes: dict[str, Any],
    identity_id: uuid.UUID | None = None,
) -> uuid.UUID:
    identity_id = identity_id or uuid.uuid4()
    session.add(
        SourceIdentity(
            id=identity_id,
            source_system=source_system,
            source_record_id=source_record_id,
            user_id=user_id,
            attributes_enc=keyring.encrypt_json(attributes, attributes_cell(identity_id)),
        )
    )
    session.flush()
    return identity_id


def get_attributes(session: Session, keyring: Keyring, identity_id: uuid.UUID) -> dict[str, Any]:
    row = session.get(SourceIdentity, identity_id)
    if row is None:
        raise KeyError(f"no source identity {identity_id}")
    return dict(keyring.decrypt_json(row.attributes_enc, attributes_cell(identity_id)) or {})
