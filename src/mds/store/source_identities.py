"""Repository for source identities: the latest raw attributes each upstream record sent.

Raw attributes and the comparison record are ciphertexts; they are decrypted lazily, because
a batch loads many candidate identities but reads the raw attributes of only a few.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Select, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from mds.domain.ids import new_id
from mds.matching.record import MatchRecord
from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store import driver
from mds.store.bulk import any_bound, copy_rows, pairs_bound
from mds.store.models import SourceIdentity, table_of

TABLE = "source_identities"
_T = table_of(SourceIdentity)


def attributes_cell(identity_id: uuid.UUID) -> CellContext:
    return CellContext(TABLE, "attributes_enc", str(identity_id))


def record_cell(identity_id: uuid.UUID) -> CellContext:
    return CellContext(TABLE, "match_record_enc", str(identity_id))


@dataclass
class IdentityRow:
    """A source identity as held in memory during a batch."""

    id: uuid.UUID
    source_system: str
    source_record_id: str
    user_id: uuid.UUID | None
    _raw: dict[str, Any] | None
    record: MatchRecord | None
    times: dict[str, Any] = field(default_factory=dict)
    issues: list[dict[str, str]] = field(default_factory=list)
    link_kind: str = "auto"
    match_score: float | None = None
    model_version: int | None = None
    version: int = 1
    erased_as_of: datetime | None = None
    created_at: datetime | None = None
    _load_raw: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_system, self.source_record_id)

    @property
    def raw(self) -> dict[str, Any]:
        """The raw attributes, decrypted on first use (most candidates are only scored)."""
        if self._raw is None:
            self._raw = self._load_raw() if self._load_raw is not None else {}
        return self._raw

    @raw.setter
    def raw(self, value: dict[str, Any]) -> None:
        self._raw = value


def _columns() -> Select[Any]:
    return select(
        _T.c.id,
        _T.c.source_system,
        _T.c.source_record_id,
        _T.c.user_id,
        _T.c.attributes_enc,
        _T.c.match_record_enc,
        _T.c.attribute_times,
        _T.c.quality_issues,
        _T.c.link_kind,
        _T.c.match_score,
        _T.c.model_version,
        _T.c.version,
        _T.c.erased_as_of,
        _T.c.created_at,
    )


_BY_SOURCE = driver.compiled(
    _columns().where(pairs_bound(_T.c.source_system, _T.c.source_record_id, ("systems", "records")))
)
_BY_USERS = driver.compiled(_columns().where(any_bound(_T.c.user_id, "ids")))
_BY_IDS = driver.compiled(_columns().where(any_bound(_T.c.id, "ids")))


def _rows(
    session: Session, keyring: Keyring, sql: str, params: dict[str, Any]
) -> list[IdentityRow]:
    out = []
    # Fetched at once on the driver: no per-row loading, no driver call per row.
    for r in driver.rows(session, sql, params):
        record_json = keyring.decrypt_json(r.match_record_enc, record_cell(r.id))
        out.append(
            IdentityRow(
                id=r.id,
                source_system=r.source_system,
                source_record_id=r.source_record_id,
                user_id=r.user_id,
                _raw=None,
                record=MatchRecord.from_json(record_json) if record_json is not None else None,
                times=dict(r.attribute_times),
                issues=list(r.quality_issues),
                link_kind=r.link_kind,
                match_score=r.match_score,
                model_version=r.model_version,
                version=r.version,
                erased_as_of=r.erased_as_of,
                created_at=r.created_at,
                _load_raw=_raw_loader(keyring, r.id, r.attributes_enc),
            )
        )
    return out


def _raw_loader(
    keyring: Keyring, identity_id: uuid.UUID, blob: bytes | None
) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        return dict(keyring.decrypt_json(blob, attributes_cell(identity_id)) or {})

    return load


def load_by_source(
    session: Session, keyring: Keyring, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], IdentityRow]:
    wanted = list(set(keys))
    if not wanted:
        return {}
    systems, records = [system for system, _ in wanted], [record for _, record in wanted]
    found = _rows(session, keyring, _BY_SOURCE, {"systems": systems, "records": records})
    return {row.key: row for row in found}


def load_by_users(
    session: Session, keyring: Keyring, user_ids: Iterable[uuid.UUID]
) -> list[IdentityRow]:
    wanted = list(set(user_ids))
    if not wanted:
        return []
    return _rows(session, keyring, _BY_USERS, {"ids": wanted})


def load_by_ids(session: Session, keyring: Keyring, ids: Iterable[uuid.UUID]) -> list[IdentityRow]:
    wanted = list(set(ids))
    if not wanted:
        return []
    return _rows(session, keyring, _BY_IDS, {"ids": wanted})


def _encrypted_record(keyring: Keyring, row: IdentityRow) -> bytes | None:
    """The identity's comparison record as stored (none once erased)."""
    if row.record is None or row.erased_as_of is not None:
        return None
    return keyring.encrypt_json(row.record.to_json(), record_cell(row.id))


def _values(keyring: Keyring, row: IdentityRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source_system": row.source_system,
        "source_record_id": row.source_record_id,
        "user_id": row.user_id,
        "attributes_enc": keyring.encrypt_json(row.raw, attributes_cell(row.id))
        if row.erased_as_of is None
        else None,
        "match_record_enc": _encrypted_record(keyring, row),
        "attribute_times": row.times,
        "quality_issues": row.issues,
        "link_kind": row.link_kind,
        "match_score": row.match_score,
        "model_version": row.model_version,
        "version": row.version,
        "erased_as_of": row.erased_as_of,
        "erased_at": None if row.erased_as_of is None else datetime.now(UTC),
    }


def insert_rows(session: Session, keyring: Keyring, rows: Sequence[IdentityRow]) -> None:
    copy_rows(session, _T, [_values(keyring, row) for row in rows])


# What an update may change: never the source key the row is found by.
_UPDATABLE = (
    *("user_id", "attributes_enc", "match_record_enc", "attribute_times", "quality_issues"),
    *("link_kind", "match_score", "model_version", "version", "erased_as_of", "erased_at"),
)
_UPDATE_ROW = driver.compiled(
    update(_T)
    .where(_T.c.id == bindparam("row_id"))
    .values(**{c: bindparam(c) for c in _UPDATABLE}, updated_at=func.now())
)
# psycopg adapts a dict or list as JSON only when told to (SQLAlchemy's JSONB type did that).
_JSON = {c for c in _UPDATABLE if isinstance(_T.c[c].type, JSONB)}


def update_rows(session: Session, keyring: Keyring, rows: Sequence[IdentityRow]) -> None:
    params = []
    for row in rows:
        values = _values(keyring, row)
        params.append(
            {
                "row_id": values["id"],
                **{c: Jsonb(values[c]) if c in _JSON else values[c] for c in _UPDATABLE},
            }
        )
    driver.execute_many(session, _UPDATE_ROW, params)


def update_records(session: Session, keyring: Keyring, rows: Sequence[IdentityRow]) -> None:
    """Write these identities' comparison records and data-quality issues, nothing else."""
    if not rows:
        return
    session.execute(
        update(_T)
        .where(_T.c.id == bindparam("row_id"))
        .values(match_record_enc=bindparam("record"), quality_issues=bindparam("issues")),
        [
            {"row_id": row.id, "record": _encrypted_record(keyring, row), "issues": row.issues}
            for row in rows
        ],
    )


# Below this many identities an exact count is cheap (an index-only scan: 11 ms for 100k,
# measured). The planner's estimate moves when autovacuum happens to analyze the table, and
# term frequencies are shares of this count, so with the estimate from 10,000 identities on,
# borderline links in a load of that size could follow autovacuum's timing.
EXACT_COUNT_BELOW = 50_000


_POPULATION = driver.compiled(
    text(
        "SELECT CASE WHEN c.reltuples > :below THEN c.reltuples::bigint"
        " ELSE (SELECT count(*) FROM source_identities) END"
        " FROM pg_class c WHERE c.oid = 'source_identities'::regclass"
    )
)


def approximate_count(session: Session) -> int:
    """Identities in the store: the planner's estimate when large, an exact count when small
    (one statement: the count, a subquery, is run only when the estimate is small)."""
    return int(driver.one(session, _POPULATION, {"below": EXACT_COUNT_BELOW})[0])


# --- single-row helpers kept for tools and tests -------------------------------------------


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
    row = IdentityRow(
        id=identity_id or new_id(),
        source_system=source_system,
        source_record_id=source_record_id,
        user_id=user_id,
        _raw=attributes,
        record=None,
    )
    insert_rows(session, keyring, [row])
    return row.id


def get_attributes(session: Session, keyring: Keyring, identity_id: uuid.UUID) -> dict[str, Any]:
    rows = _rows(session, keyring, _BY_IDS, {"ids": [identity_id]})
    if not rows:
        raise KeyError(f"no source identity {identity_id}")
    return rows[0].raw
