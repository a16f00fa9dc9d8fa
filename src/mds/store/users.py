"""Repository for canonical users and their golden profiles (PII encrypted per cell)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from mds.domain.ids import new_id
from mds.domain.profile import PII_ATTRIBUTES, Profile
from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store import driver
from mds.store.bulk import any_bound, any_of, column_arrays, copy_rows
from mds.store.models import CanonicalProfile, CanonicalUser, table_of

PROFILE_TABLE = "canonical_profiles"
# Merge chains are short (a merged user's own merged_into is repointed on later merges only
# lazily); the bound only stops a corrupt cycle from looping forever.
MAX_MERGE_HOPS = 64
_USERS = table_of(CanonicalUser)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    status: str
    merged_into: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    profile: Profile


@dataclass
class UserRow:
    """A canonical user's mutable state during a batch."""

    id: uuid.UUID
    status: str
    merged_into: uuid.UUID | None
    version: int
    created_at: datetime


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


def decrypt_profile(keyring: Keyring, row: Any) -> Profile:
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
    copy_rows(session, _USERS, [{"id": uid, "status": "active"} for uid, _ in profiles])
    upsert_profiles(session, keyring, profiles)


def create_user(
    session: Session, keyring: Keyring, profile: Profile, user_id: uuid.UUID | None = None
) -> uuid.UUID:
    user_id = user_id or new_id()
    create_users(session, keyring, [(user_id, profile)])
    return user_id


def insert_users(session: Session, rows: Sequence[UserRow]) -> None:
    copy_rows(
        session,
        _USERS,
        [
            {
                "id": r.id,
                "status": r.status,
                "merged_into": r.merged_into,
                "version": r.version,
                "created_at": r.created_at,
                "updated_at": r.created_at,
            }
            for r in rows
        ],
    )


_UPDATE_USERS = driver.compiled(
    text(
        "UPDATE canonical_users u SET status = d.status, merged_into = d.merged_into,"
        " version = d.version, updated_at = now()"
        " FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]),"
        "   CAST(:survivors AS uuid[]), CAST(:versions AS integer[]))"
        "   AS d(id, status, merged_into, version)"
        " WHERE u.id = d.id"
    )
)


def update_users(session: Session, rows: Sequence[UserRow]) -> None:
    """Write the users' status, survivor and version: one statement over arrays, whatever the
    count (an executemany runs one UPDATE per user on the server)."""
    if rows:
        driver.execute(
            session,
            _UPDATE_USERS,
            column_arrays(
                [(r.id, r.status, r.merged_into, r.version) for r in rows],
                "ids",
                "statuses",
                "survivors",
                "versions",
            ),
        )


_LOCKED = (
    select(
        _USERS.c.id, _USERS.c.status, _USERS.c.merged_into, _USERS.c.version, _USERS.c.created_at
    )
    .where(any_bound(_USERS.c.id, "ids"))
    .order_by(_USERS.c.id)
)
_LOCK_FOR_UPDATE = driver.compiled(_LOCKED.with_for_update())
_LOCK_SHARED = driver.compiled(_LOCKED.with_for_update(read=True))


def lock_users(
    session: Session, ids: Iterable[uuid.UUID], *, shared: bool = False
) -> dict[uuid.UUID, UserRow]:
    """Row locks on these users, in id order, until commit, and the users as locked (one
    statement): a batch and a steward's change to the same users serialize instead of
    overwriting each other's versions. `shared` locks (FOR SHARE) keep others from changing the
    users while letting other readers lock them too; change a user only under FOR UPDATE."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = driver.tuples(session, _LOCK_SHARED if shared else _LOCK_FOR_UPDATE, {"ids": wanted})
    return {r[0]: UserRow(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def survivors(session: Session, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The user each of these ended up at after merges (only the ids that were merged), in
    one query whatever the chains' length."""
    if not user_ids:
        return {}
    rows = session.execute(
        text(
            "WITH RECURSIVE chain(start, id, hops) AS ("
            "  SELECT id, merged_into, 1 FROM canonical_users"
            "  WHERE id = ANY(:ids) AND merged_into IS NOT NULL"
            "  UNION ALL"
            "  SELECT chain.start, u.merged_into, chain.hops + 1"
            "  FROM chain JOIN canonical_users u ON u.id = chain.id"
            "  WHERE u.merged_into IS NOT NULL AND chain.hops <= :bound"
            ") SELECT DISTINCT ON (start) start, id, hops FROM chain ORDER BY start, hops DESC"
        ),
        {"ids": list(user_ids), "bound": MAX_MERGE_HOPS},
    ).all()
    for start, _end, hops in rows:
        if hops > MAX_MERGE_HOPS:
            raise RuntimeError(f"merge chain from {start} longer than {MAX_MERGE_HOPS}")
    return {start: end for start, end, _hops in rows}


def absorbed(session: Session, user_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """Every user merged, directly or through others, into one of these."""
    if not user_ids:
        return []
    rows = session.execute(
        text(
            "WITH RECURSIVE absorbed(id) AS ("
            "  SELECT id FROM canonical_users WHERE merged_into = ANY(:ids)"
            "  UNION SELECT u.id FROM canonical_users u JOIN absorbed a ON u.merged_into = a.id"
            ") SELECT id FROM absorbed"
        ),
        {"ids": list(user_ids)},
    )
    return [r[0] for r in rows]


_PII_COLUMNS = [f"{name}_enc" for name in PII_ATTRIBUTES]
# Arrays and unnest: one statement, compiled once, whatever the batch size.
_UPSERT_PROFILES = driver.compiled(
    text(
        f"INSERT INTO canonical_profiles (user_id, {', '.join(_PII_COLUMNS)}, locale, preferences)"
        " SELECT * FROM unnest(CAST(:user_id AS uuid[]), "
        + ", ".join(f"CAST(:{c} AS bytea[])" for c in _PII_COLUMNS)
        + ", CAST(:locale AS text[]), CAST(:preferences AS jsonb[]))"
        " ON CONFLICT (user_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in [*_PII_COLUMNS, "locale", "preferences"])
        + ", version = canonical_profiles.version + 1, updated_at = now()"
    )
)


def upsert_profiles(
    session: Session, keyring: Keyring, profiles: Sequence[tuple[uuid.UUID, Profile]]
) -> None:
    if not profiles:
        return
    rows = [{"user_id": uid, **encrypt_profile(keyring, uid, p)} for uid, p in profiles]
    driver.execute(
        session,
        _UPSERT_PROFILES,
        {
            "user_id": [r["user_id"] for r in rows],
            **{c: [r[c] for r in rows] for c in _PII_COLUMNS},
            "locale": [r["locale"] for r in rows],
            "preferences": [Jsonb(r["preferences"]) for r in rows],
        },
    )


def load_profiles(
    session: Session, keyring: Keyring, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Profile]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(CanonicalProfile).where(any_of(CanonicalProfile.user_id, wanted)))
    return {row.user_id: decrypt_profile(keyring, row) for (row,) in rows}


# Plain columns, not ORM entities: this is the hottest read, and mapping the two rows into
# entities (identity map, instance state) cost about as much as the query itself.
_USER_WITH_PROFILE = select(
    CanonicalUser.id,
    CanonicalUser.status,
    CanonicalUser.merged_into,
    CanonicalUser.version,
    CanonicalUser.created_at,
    CanonicalUser.updated_at,
    CanonicalProfile.user_id,
    *(getattr(CanonicalProfile, f"{name}_enc") for name in PII_ATTRIBUTES),
    CanonicalProfile.locale,
    CanonicalProfile.preferences,
).join(CanonicalProfile, CanonicalProfile.user_id == CanonicalUser.id)


_USER_BY_ID = _USER_WITH_PROFILE.where(CanonicalUser.id == bindparam("user_id"))
# The same statement as psycopg text for the asyncio read path, which has no SQLAlchemy engine.
_USER_BY_ID_SQL = driver.compiled(_USER_BY_ID)


def get_user(session: Session, keyring: Keyring, user_id: uuid.UUID) -> UserRecord | None:
    row = session.execute(_USER_BY_ID, {"user_id": user_id}).one_or_none()
    return None if row is None else _record(keyring, row)


async def fetch_user(
    connection: AsyncConnection[Any], keyring: Keyring, user_id: uuid.UUID
) -> UserRecord | None:
    """`get_user` on an asyncio psycopg connection."""
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_USER_BY_ID_SQL, {"user_id": user_id})
        row = await cursor.fetchone()
    return None if row is None else _record(keyring, row)


def _record(keyring: Keyring, row: Any) -> UserRecord:
    return UserRecord(
        row.id,
        row.status,
        row.merged_into,
        row.version,
        row.created_at,
        row.updated_at,
        decrypt_profile(keyring, row),
    )
