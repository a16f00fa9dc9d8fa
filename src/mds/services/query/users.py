"""Reading golden records: by id (following merges to the survivor) and by blind-index lookup."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mds.domain.masking import mask_attributes
from mds.domain.normalization import normalize_attributes
from mds.matching.record import match_record
from mds.security.keyring import Keyring
from mds.services.errors import InvalidFieldError
from mds.store import source_identities as identities
from mds.store.models import CanonicalUser, MatchKey, SourceIdentity
from mds.store.users import UserRecord, get_user, survivors

MAX_LOOKUP_RESULTS = 100


@dataclass(frozen=True, slots=True)
class UserView:
    record: UserRecord
    requested_id: uuid.UUID

    @property
    def redirected(self) -> bool:
        return self.record.id != self.requested_id

    def as_dict(self, *, pii: bool) -> dict[str, Any]:
        r = self.record
        profile = r.profile.as_dict()
        return {
            "id": str(r.id),
            "status": r.status,
            "version": r.version,
            "created_at": r.created_at.isoformat(),
            "updated_at": r.updated_at.isoformat(),
            "resolved_from": str(self.requested_id) if self.redirected else None,
            "pii_masked": not pii,
            "profile": profile if pii else mask_attributes(profile),
        }


def survivor_of(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    """The user an id ends up at after following merges; None if the id is unknown."""
    known = session.scalar(select(CanonicalUser.id).where(CanonicalUser.id == user_id))
    if known is None:
        return None
    return survivors(session, [user_id]).get(user_id, user_id)


def find_user(session: Session, keyring: Keyring, user_id: uuid.UUID) -> UserView | None:
    record = get_user(session, keyring, user_id)
    if record is None:
        return None
    if record.status == "merged":
        survivor = survivor_of(session, user_id)
        survived = get_user(session, keyring, survivor) if survivor else None
        if survived is not None:
            record = survived
    return UserView(record, user_id)


def _users_by_key(
    session: Session, keyring: Keyring, key: tuple[str, str], field: str
) -> list[uuid.UUID]:
    """Users whose identities hold exactly this normalized value (the key may be shared by a
    wider set, e.g. an email's provider-canonical form, so each hit is checked)."""
    kind, value = key
    rows = session.execute(
        select(MatchKey.source_identity_id)
        .where(MatchKey.key_type == kind, MatchKey.key_hash == keyring.blind_index(kind, value))
        .limit(MAX_LOOKUP_RESULTS * 4)
    ).scalars()
    found = identities.load_by_ids(session, keyring, list(rows))
    users = {
        row.user_id
        for row in found
        if row.user_id is not None and row.record and getattr(row.record, field) == value
    }
    return sorted(users)


def lookup(
    session: Session,
    keyring: Keyring,
    *,
    email: str | None = None,
    phone: str | None = None,
    source: tuple[str, str] | None = None,
    default_region: str | None = None,
) -> list[uuid.UUID]:
    """Users matching every given criterion, each normalized as ingestion does (survivors)."""
    sets: list[set[uuid.UUID]] = []
    if email is not None or phone is not None:
        query = {k: v for k, v in (("email", email), ("phone", phone)) if v is not None}
        normalized = normalize_attributes(
            query, default_region=default_region, today=datetime.now(UTC).date()
        )
        record = match_record(normalized)
        for field in query:
            value = getattr(record, field)
            if value is None:
                issue = next((i for i in normalized.issues if i.attribute == field), None)
                raise InvalidFieldError(field, issue.message if issue else "not a valid value")
            sets.append(set(_users_by_key(session, keyring, (field, value), field)))
    if source is not None:
        user_id = session.execute(
            select(SourceIdentity.user_id).where(
                SourceIdentity.source_system == source[0],
                SourceIdentity.source_record_id == source[1],
            )
        ).scalar_one_or_none()
        sets.append({user_id} if user_id is not None else set())
    found = set.intersection(*sets) if sets else set()
    merged = survivors(session, found)
    return sorted({merged.get(u, u) for u in found})[:MAX_LOOKUP_RESULTS]
