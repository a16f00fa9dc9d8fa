"""`mds model rebuild-keys`: every identity's match keys made again with this version's rules.

Blocking rules change between versions (a new kind of key); identities stored before carry the
old keys only, so a new record could not reach them through the new kind until they changed.
Normalization changes too (a phone the numbering plan does not list began to be compared): with
`normalize`, each identity's comparison record and data-quality issues are first made again
from its raw attributes. Golden records are left as they are (that change touched only what
is compared; a change to valid values would need its users survived again, which an identity's
next signal does for its user).
Rebuilding walks the identities in id order, a chunk per transaction, and is safe while ingest
runs: each chunk's users are locked FOR SHARE before their identities are read, as a batch
reading candidates does, so a concurrent merge or split either committed before or waits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mds.domain.normalization import NormalizedRecord, normalize_attributes
from mds.matching.record import match_record
from mds.security.keyring import Keyring
from mds.services.resolution.keys import identity_keys
from mds.services.transactions import ConcurrentChangeError, in_transaction
from mds.store import match_keys
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.bulk import any_of
from mds.store.models import SourceIdentity

CHUNK = 2_000
# Raw attributes → what normalization makes of them today.
Normalize = Callable[[dict[str, Any]], NormalizedRecord]


def normalizing(default_region: str | None, today: date) -> Normalize:
    """Normalization as ingestion does it today."""
    return partial(normalize_attributes, default_region=default_region, today=today)


@dataclass(frozen=True)
class RekeyProgress:
    identities: int  # walked so far
    keys: int  # rows added, repointed or removed so far (keys already right are left alone)
    records: int = 0  # comparison records that normalization made differently (`normalize`)


def rebuild_match_keys(
    sessions: Callable[[], Session],
    keyring: Keyring,
    *,
    chunk: int = CHUNK,
    on_chunk: Callable[[RekeyProgress], None] | None = None,
    normalize: Normalize | None = None,
) -> RekeyProgress:
    after: uuid.UUID | None = None
    done = RekeyProgress(0, 0)
    while True:

        def work(
            session: Session, after: uuid.UUID | None = after
        ) -> tuple[list[uuid.UUID], tuple[int, int]]:
            statement = select(SourceIdentity.id).order_by(SourceIdentity.id).limit(chunk)
            if after is not None:
                statement = statement.where(SourceIdentity.id > after)
            ids = list(session.scalars(statement))
            return ids, _rekey(session, keyring, ids, normalize)

        ids, (keys, records) = in_transaction(sessions, work)
        if not ids:
            return done
        after = ids[-1]
        done = RekeyProgress(done.identities + len(ids), done.keys + keys, done.records + records)
        if on_chunk is not None:
            on_chunk(done)


def _rekey(
    session: Session, keyring: Keyring, ids: list[uuid.UUID], normalize: Normalize | None
) -> tuple[int, int]:
    """Make the keys (with `normalize`, first the comparison records) of these identities this
    version's; the number of key rows and of records changed."""
    if not ids:
        return 0, 0
    owners = select(SourceIdentity.user_id).where(any_of(SourceIdentity.id, ids))
    users = {u for u in session.scalars(owners) if u is not None}
    user_store.lock_users(session, users, shared=True)
    rows = identities.load_by_ids(session, keyring, ids)
    if {r.user_id for r in rows if r.user_id is not None} - users:
        # Moved to another user between the two reads: that user is not locked.
        raise ConcurrentChangeError("an identity moved to another user while being rekeyed")
    records = _renormalize(session, keyring, rows, normalize) if normalize is not None else 0
    keyed = [
        (row.id, row.user_id, identity_keys(row.record, keyring))
        for row in rows
        if row.user_id is not None and row.record is not None
    ]
    # Detached or erased identities carry no keys: any left over are dropped.
    removed = match_keys.delete_keys(
        session, [row.id for row in rows if row.user_id is None or row.record is None]
    )
    return removed + match_keys.replace_keys(session, keyed), records


def _renormalize(
    session: Session, keyring: Keyring, rows: list[identities.IdentityRow], normalize: Normalize
) -> int:
    """Make each live identity's comparison record and issues again from its raw attributes;
    write those that changed (the number)."""
    changed = []
    for row in rows:
        if row.user_id is None or row.record is None or row.erased_as_of is not None:
            continue
        normalized = normalize(row.raw)
        record, issues = match_record(normalized), [i.as_dict() for i in normalized.issues]
        if record != row.record or issues != row.issues:
            row.record, row.issues = record, issues
            changed.append(row)
    identities.update_records(session, keyring, changed)
    return len(changed)
