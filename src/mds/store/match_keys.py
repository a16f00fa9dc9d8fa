"""Blocking keys and term counts as blind-index hashes: who carries a given normalized value."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.store import driver
from mds.store.bulk import any_bound, any_of, column_arrays, copy_rows, rows_changed
from mds.store.models import MatchKey, table_of

HashedKey = tuple[str, bytes]
# A key shared by more identities than this (a very common name and birth year) is no block: the
# ones a lookup would reach are an arbitrary few (the oldest), so it reaches none, and the other
# keys of the record find its true matches. On the 1M-user benchmark store, dropping such keys
# (instead of taking their first 64) cut the candidate query from 158-176 ms to 109-113 per
# 500 signals and the users locked and scored by 7%, with the same decisions.
CANDIDATES_PER_KEY = 64
TERM_COUNT_CAP = 5_000


@dataclass
class Candidates:
    """What `ranked_candidates` found: the kept rows, and the keys too crowded to reach any."""

    rows: list[tuple[str, bytes, uuid.UUID, uuid.UUID]] = field(default_factory=list)
    crowded: set[HashedKey] = field(default_factory=set)


_KEYS = "unnest(CAST(:types AS text[]), CAST(:hashes AS bytea[])) AS k(key_type, key_hash)"


def add_keys(
    session: Session,
    source_identity_id: uuid.UUID,
    user_id: uuid.UUID | None,
    keys: Iterable[HashedKey],
) -> None:
    rows = [
        {"key_type": t, "key_hash": h, "source_identity_id": source_identity_id, "user_id": user_id}
        for t, h in keys
    ]
    if rows:
        session.execute(insert(MatchKey).values(rows).on_conflict_do_nothing())


# A match_keys row `m` and a row `d` of unnested (id, key_type, key_hash) arrays: its primary key.
_SAME_ROW = "m.key_type = d.key_type AND m.key_hash = d.key_hash AND m.source_identity_id = d.id"


_DELETE_GONE = driver.compiled(
    text(
        "DELETE FROM match_keys m USING unnest(CAST(:ids AS uuid[]),"
        " CAST(:types AS text[]), CAST(:hashes AS bytea[])) AS d(id, key_type, key_hash)"
        f" WHERE {_SAME_ROW}"
    )
)

_MOVE_KEYS = driver.compiled(
    text(
        "UPDATE match_keys m SET user_id = d.user_id FROM unnest(CAST(:ids AS uuid[]),"
        " CAST(:types AS text[]), CAST(:hashes AS bytea[]), CAST(:users AS uuid[]))"
        "   AS d(id, key_type, key_hash, user_id)"
        f" WHERE {_SAME_ROW}"
    )
)

_RANKED = driver.compiled(
    text(
        "WITH keys AS ("
        "   SELECT * FROM unnest(CAST(:types AS text[]), CAST(:hashes AS bytea[]))"
        "     WITH ORDINALITY AS k(key_type, key_hash, key_no)),"
        " wanted AS ("
        "   SELECT * FROM unnest(CAST(:records AS int[]), CAST(:key_numbers AS bigint[]),"
        "     CAST(:strengths AS int[])) AS w(record, key_no, strength)),"
        " reached AS MATERIALIZED ("
        "   SELECT k.key_no, m.source_identity_id, m.user_id FROM keys k"
        "   CROSS JOIN LATERAL ("
        "     SELECT source_identity_id, user_id FROM match_keys"
        "     WHERE match_keys.key_type = k.key_type AND match_keys.key_hash = k.key_hash"
        "       AND match_keys.user_id IS NOT NULL"
        "     LIMIT :per_key + 1) AS m),"
        " crowded AS MATERIALIZED ("
        "   SELECT key_no FROM reached GROUP BY key_no HAVING count(*) > :per_key),"
        " hits AS MATERIALIZED ("
        "   SELECT * FROM reached WHERE key_no NOT IN (SELECT key_no FROM crowded)),"
        # A user counts once per key of a record, however many of its identities carry it.
        " key_users AS (SELECT DISTINCT key_no, user_id FROM hits),"
        # uuid order is byte order, the order of the ids' text in Python.
        " scored AS ("
        "   SELECT record, user_id, row_number() OVER ("
        "     PARTITION BY record ORDER BY sum(strength) DESC, user_id) AS rank"
        "   FROM wanted JOIN key_users USING (key_no) GROUP BY record, user_id),"
        " kept AS (SELECT DISTINCT user_id FROM scored WHERE rank <= :per_record)"
        " SELECT k.key_type, k.key_hash, h.source_identity_id, h.user_id"
        " FROM hits h JOIN kept USING (user_id) JOIN keys k USING (key_no)"
        " UNION ALL"
        " SELECT k.key_type, k.key_hash, NULL, NULL FROM crowded JOIN keys k USING (key_no)"
    )
)

_CROWDED = driver.compiled(
    text(
        "SELECT k.key_type, k.key_hash FROM "
        f"{_KEYS} WHERE ("
        "   SELECT count(*) FROM (SELECT 1 FROM match_keys m"
        "     WHERE m.key_type = k.key_type AND m.key_hash = k.key_hash"
        "       AND m.user_id IS NOT NULL LIMIT :per_key + 1) AS c) > :per_key"
    )
)

_TERM_COUNTS = driver.compiled(
    text(
        "SELECT k.key_type, k.key_hash, ("
        "   SELECT count(*) FROM (SELECT 1 FROM match_keys m"
        "     WHERE m.key_type = k.key_type AND m.key_hash = k.key_hash LIMIT :cap) AS c)"
        f" FROM {_KEYS}"
    )
)


def replace_keys(
    session: Session,
    entries: Sequence[tuple[uuid.UUID, uuid.UUID | None, Sequence[HashedKey]]],
    *,
    new: Collection[uuid.UUID] = (),
) -> int:
    """Make each identity's keys exactly the given ones (identity id, user id, keys); the
    identities in `new` have none yet. Only the differences are written: an update that
    changes one attribute rewrites the key or two it changes, not the dozen the identity
    carries, and a merge repoints its keys in place. Returns the number of rows changed."""
    wanted = {
        (identity, key_type, key_hash): user
        for identity, user, keys in entries
        for key_type, key_hash in keys
    }
    stored = _stored_keys(session, [e[0] for e in entries if e[0] not in new])
    gone = [key for key in stored if key not in wanted]
    moved = [(*key, user) for key, user in wanted.items() if key in stored and stored[key] != user]
    added = [(*key, user) for key, user in wanted.items() if key not in stored]
    if gone:
        driver.execute(session, _DELETE_GONE, column_arrays(gone, "ids", "types", "hashes"))
    if moved:
        driver.execute(session, _MOVE_KEYS, column_arrays(moved, "ids", "types", "hashes", "users"))
    copy_rows(
        session,
        table_of(MatchKey),
        [
            {"key_type": t, "key_hash": h, "source_identity_id": identity, "user_id": user}
            for identity, t, h, user in added
        ],
    )
    return len(gone) + len(moved) + len(added)


_STORED = driver.compiled(
    select(
        MatchKey.source_identity_id, MatchKey.key_type, MatchKey.key_hash, MatchKey.user_id
    ).where(any_bound(MatchKey.source_identity_id, "ids"))
)


def _stored_keys(
    session: Session, identity_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str, bytes], uuid.UUID | None]:
    """(identity, key type, hash) → user of every key these identities carry now."""
    if not identity_ids:
        return {}
    rows = driver.tuples(session, _STORED, {"ids": list(identity_ids)})
    return {(identity, t, bytes(h)): user for identity, t, h, user in rows}


def delete_keys(session: Session, identity_ids: Sequence[uuid.UUID]) -> int:
    """Drop every key of these identities; the number of rows removed."""
    if not identity_ids:
        return 0
    result = session.execute(
        delete(MatchKey).where(any_of(MatchKey.source_identity_id, identity_ids))
    )
    return rows_changed(result)


def ranked_candidates(
    session: Session,
    wanted_by_record: Sequence[Sequence[HashedKey]],
    strength: Mapping[str, int],
    per_record: int,
    per_key: int = CANDIDATES_PER_KEY,
) -> Candidates:
    """(key type, hash, identity, user) of linked identities carrying the records' keys, only
    for each record's `per_record` best users: the most key strength shared (a key type not in
    `strength` counts 1), ties by id, as `matching.candidates.best_candidates` ranks them. In a
    large store a common name reaches many users; ranking them here spares reading every one of
    them into Python. A key shared by more than `per_key` identities reaches none: it is
    reported as crowded instead."""
    # Keys are numbered once, so the ranking joins and groups on integers, not on (text, bytea).
    numbers: dict[HashedKey, int] = {}
    records, key_numbers, strengths = [], [], []
    for index, keys in enumerate(wanted_by_record):
        for key in dict.fromkeys(keys):
            records.append(index)
            key_numbers.append(numbers.setdefault(key, len(numbers) + 1))
            strengths.append(strength.get(key[0], 1))
    if not records:
        return Candidates()
    rows = driver.tuples(
        session,
        _RANKED,
        {
            "types": [key_type for key_type, _ in numbers],
            "hashes": [key_hash for _, key_hash in numbers],
            "records": records,
            "key_numbers": key_numbers,
            "strengths": strengths,
            "per_record": per_record,
            "per_key": per_key,
        },
    )
    found = Candidates()
    for key_type, key_hash, identity, user in rows:
        if identity is None:
            found.crowded.add((key_type, bytes(key_hash)))
        else:
            found.rows.append((key_type, bytes(key_hash), identity, user))
    return found


def crowded_keys(
    session: Session, keys: Sequence[HashedKey], per_key: int = CANDIDATES_PER_KEY
) -> set[HashedKey]:
    """The keys carried by more than `per_key` linked identities (which reach no candidate)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return set()
    rows = driver.tuples(
        session,
        _CROWDED,
        {"types": [t for t, _ in unique], "hashes": [h for _, h in unique], "per_key": per_key},
    )
    return {(r[0], bytes(r[1])) for r in rows}


def term_counts(session: Session, keys: Sequence[HashedKey]) -> dict[HashedKey, int]:
    """How many identities carry each key (capped: beyond the cap a value is simply common)."""
    if not keys:
        return {}
    unique = list(dict.fromkeys(keys))
    rows = driver.tuples(
        session,
        _TERM_COUNTS,
        {"types": [t for t, _ in unique], "hashes": [h for _, h in unique], "cap": TERM_COUNT_CAP},
    )
    return {(r[0], bytes(r[1])): int(r[2]) for r in rows}


def users_with_keys(session: Session, keys: Iterable[HashedKey]) -> set[uuid.UUID]:
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
