"""`mds model rebuild-keys`: every identity's match keys made again with this version's rules.

Blocking rules change between versions (a new kind of key); identities stored before carry the
old keys only, so a new record could not reach them through the new kind until they changed.
Rebuilding walks the identities in id order, a chunk per transaction, and is safe while ingest
runs: each chunk's users are locked FOR SHARE before their identities are read, as a batch
reading candidates does, so a concurrent merge or split either committed before or waits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mds.security.keyring import Keyring
from mds.services.resolution.keys import identity_keys
from mds.services.transactions import ConcurrentChangeError, in_transaction
from mds.store import match_keys
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.bulk import any_of
from mds.store.models import SourceIdentity

CHUNK = 2_000


@dataclass(frozen=True)
class RekeyProgress:
    identities: int  # walked so far
    keys: int  # rows added, repointed or removed so far (keys already right are left alone)


def rebuild_match_keys(
    sessions: Callable[[], Session],
    keyring: Keyring,
    *,
    chunk: int = CHUNK,
    on_chunk: Callable[[RekeyProgress], None] | None = None,
) -> RekeyProgress:
    after: uuid.UUID | None = None
    walked = written = 0
    while True:

        def work(session: Session, after: uuid.UUID | None = after) -> tuple[list[uuid.UUID], int]:
            statement = select(SourceIdentity.id).order_by(SourceIdentity.id).limit(chunk)
            if after is not None:
                statement = statement.where(SourceIdentity.id > after)
            ids = list(session.scalars(statement))
            return ids, _rekey(session, keyring, ids)

        ids, keys = in_transaction(sessions, work)
        if not ids:
            return RekeyProgress(walked, written)
        after = ids[-1]
        walked += len(ids)
        written += keys
        if on_chunk is not None:
            on_chunk(RekeyProgress(walked, written))


def _rekey(session: Session, keyring: Keyring, ids: list[uuid.UUID]) -> int:
    """Make the keys of these identities this version's; the number of rows changed."""
    if not ids:
        return 0
    owners = select(SourceIdentity.user_id).where(any_of(SourceIdentity.id, ids))
    users = {u for u in session.scalars(owners) if u is not None}
    user_store.lock_users(session, users, shared=True)
    rows = identities.load_by_ids(session, keyring, ids)
    if {r.user_id for r in rows if r.user_id is not None} - users:
        # Moved to another user between the two reads: that user is not locked.
        raise ConcurrentChangeError("an identity moved to another user while being rekeyed")
    keyed = [
        (row.id, row.user_id, identity_keys(row.record, keyring))
        for row in rows
        if row.user_id is not None and row.record is not None
    ]
    # Detached or erased identities carry no keys: any left over are dropped.
    removed = match_keys.delete_keys(
        session, [row.id for row in rows if row.user_id is None or row.record is None]
    )
    return removed + match_keys.replace_keys(session, keyed)
