"""Repository for canonical users and their golden profiles (PII encrypted per cell)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mds.domain.profile import PII_ATTRIBUTES, Profile
from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store.models import CanonicalProfile, CanonicalUser

PROFILE_TABLE = "canonical_profiles"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    status: str
    merged_into: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    profile: Profile


def _cell(user_id: uuid.UUID, attribute: str) -> CellContext:
    return CellContext(PROFILE_TABLE, f"{attribute}_enc", str(user_id))


def encrypt_profile(keyring: Keyring, user_id: uuid.UUID, profile: Profile) -> dict[str, Any]:
    """Column values for a canonical_profiles row."""
    values: dict[str, Any] = {
        f"{name}_enc": keyring.encrypt_json(getattr(profile, name), _cell(user_id, name))
        for name in PII_ATTRIBUTES
    }
    values["locale"] = profile.locale
    values["preferences"] = profile.preferences
    return values


def decrypt_profile(keyring: Keyring, row: CanonicalProfile) -> Profile:
    pii = {
        name: keyring.decrypt_json(getattr(row, f"{name}_enc"), _cell(row.user_id, name))
        for name in PII_ATTRIBUTES
    }
    return Profile(**pii, locale=row.locale, preferences=dict(row.preferences or {}))


def create_users(
    session: Session, keyring: Keyring, profiles: Sequence[tuple[uuid.UUID, Profile]]
) -> None:
    """Insert users with their profiles: two multi-row statements, whatever the count."""
    if not profiles:
        return
    session.execute(insert(CanonicalUser), [{"id": uid, "status": "active"} for uid, _ in profiles])
    session.execute(
        insert(CanonicalProfile),
        [{"user_id": uid, **encrypt_profile(keyring, uid, p)} for uid, p in profiles],
    )


def create_user(
    session: Session, keyring: Keyring, profile: Profile, user_id: uuid.UUID | None = None
) -> uuid.UUID:
    user_id = user_id or uuid.uuid4()
    create_users(session, keyring, [(user_id, profile)])
    return user_id


def get_user(session: Session, keyring: Keyring, user_id: uuid.UUID) -> UserRecord | None:
    row = session.execute(
        select(CanonicalUser, CanonicalProfile)
        .join(CanonicalProfile, CanonicalProfile.user_id == CanonicalUser.id)
        .where(CanonicalUser.id == user_id)
    ).one_or_none()
    if row is None:
        return None
    user, profile = row
    return UserRecord(
        user.id,
        user.status,
        user.merged_into,
        user.version,
        user.created_at,
        user.updated_at,
        decrypt_profile(keyring, profile),
    )
