"""`mds recompute`: every live user compared again with its candidates, under today's model.

A signal is decided against what the store held when it arrived, with the model and thresholds
of that day. A pair that was doubtful then, or never compared (neither was the other's
candidate when it arrived), may be clear now: the model was retrained, thresholds or blocking
rules changed, each side gained identities. The pass walks the live users in id order, a chunk
per transaction, finds each one's candidates through the match keys as ingestion does, and
scores the users as wholes. What the decision policy would link or queue is proposed to the
review queue; with `merge`, a clean link (no guard, no conflict, not kept apart by a steward)
is merged, as a signal linking both users would merge it.

Safe while ingest runs: the chunk's users and their candidates are locked FOR SHARE before
their identities are read, and the few a merge changes are upgraded to FOR UPDATE with their
versions checked (a moved version reruns the chunk). A proposal carries the versions it saw:
a user that changes afterwards makes it stale, as any review item.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from mds.matching.candidates import CANDIDATES_PER_RECORD, KEY_STRENGTH
from mds.matching.scoring import PairScorer
from mds.security.keyring import Keyring
from mds.services.resolution.batch import (
    lock_changed_users,
    persist_changes,
    term_frequency,
)
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.keys import hashed_blocking_keys
from mds.services.resolution.resolver import Resolver
from mds.services.resolution.survival import SurvivalResult, survive_users
from mds.services.resolution.term_counts import TermCounts
from mds.services.resolution.workspace import LIVE_STATUSES, Workspace
from mds.services.transactions import in_transaction
from mds.store import lineage, locks, match_keys, review
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.match_keys import HashedKey
from mds.store.models import CanonicalUser

CHUNK = 500
ACTOR = "recompute"
# One pass at a time: a second one (a manual run while the nightly job runs) would only queue
# the same pairs twice as slowly.
RECOMPUTE_LOCK = 0x6D64735F72656331  # "mds_rec1"


class RecomputeRunningError(RuntimeError):
    """Another process holds the recompute lock."""


@contextmanager
def running_alone(engine: Engine) -> Iterator[None]:
    """Hold the recompute lock for the block; RecomputeRunningError if another pass has it."""
    with locks.held_alone(engine, RECOMPUTE_LOCK) as granted:
        if not granted:
            raise RecomputeRunningError("another `mds recompute` is running on this database")
        yield


@dataclass(frozen=True)
class RecomputeProgress:
    users: int = 0  # live users walked
    pairs: int = 0  # pairs of users scored
    proposed: int = 0  # review items opened (would open, in a dry run)
    merged: int = 0  # merges made (would make, in a dry run)
    last_user: uuid.UUID | None = None  # the last user walked: `after` resumes from there

    def __add__(self, other: RecomputeProgress) -> RecomputeProgress:
        return RecomputeProgress(
            self.users + other.users,
            self.pairs + other.pairs,
            self.proposed + other.proposed,
            self.merged + other.merged,
            other.last_user or self.last_user,
        )


@dataclass
class _DryRunRollbackError(Exception):
    """Raised at the end of a dry-run chunk: rolls back what it wrote, carries what it did."""

    ids: list[uuid.UUID]
    progress: RecomputeProgress


@dataclass
class Recompute:
    sessions: Callable[[], Session]
    keyring: Keyring
    config: ResolutionConfig
    merge: bool = False
    dry_run: bool = False
    chunk: int = CHUNK
    term_counts: TermCounts = field(default_factory=TermCounts)

    def run(
        self,
        on_chunk: Callable[[RecomputeProgress], None] | None = None,
        *,
        after: uuid.UUID | None = None,
        until: uuid.UUID | None = None,
        engine: Engine | None = None,
    ) -> RecomputeProgress:
        """Walk the live users with ids above `after` and up to `until` (all of them by
        default); with `engine`, refuse to start (RecomputeRunningError) while another pass
        runs on that database."""
        if engine is None:
            return self._walk(after, until, on_chunk)
        with running_alone(engine):
            return self._walk(after, until, on_chunk)

    def _walk(
        self,
        after: uuid.UUID | None,
        until: uuid.UUID | None,
        on_chunk: Callable[[RecomputeProgress], None] | None,
    ) -> RecomputeProgress:
        total = RecomputeProgress(last_user=after)
        while True:
            ids, done = self._chunk_after(after, until)
            if not ids:
                return total
            after = ids[-1]
            total += RecomputeProgress(done.users, done.pairs, done.proposed, done.merged, after)
            if on_chunk is not None:
                on_chunk(total)

    def _chunk_after(
        self, after: uuid.UUID | None, until: uuid.UUID | None
    ) -> tuple[list[uuid.UUID], RecomputeProgress]:
        def work(session: Session) -> tuple[list[uuid.UUID], RecomputeProgress]:
            ids = list(session.scalars(_live_ids(after, until).limit(self.chunk)))
            done = self._compare(session, ids)
            if self.dry_run:
                raise _DryRunRollbackError(ids, done)
            return ids, done

        try:
            return in_transaction(self.sessions, work)
        except _DryRunRollbackError as rolled_back:
            return rolled_back.ids, rolled_back.progress

    def _compare(self, session: Session, chunk: Sequence[uuid.UUID]) -> RecomputeProgress:
        if not chunk:
            return RecomputeProgress()
        ws = Workspace(now=self.config.clock())
        users = user_store.lock_users(session, chunk, shared=True)
        walked = [u for u in chunk if u in users and users[u].status in LIVE_STATUSES]
        own = identities.load_by_users(session, self.keyring, walked)
        records = [row.record for row in own if row.record is not None]
        keys = {row.id: hashed_blocking_keys(row.record, self.keyring) for row in own if row.record}
        # Each identity reaches its own user first: one more place, so others keep theirs.
        found = match_keys.ranked_candidates(
            session, list(keys.values()), KEY_STRENGTH, CANDIDATES_PER_RECORD + 1
        )
        others = {row[3] for row in found.rows} - users.keys()
        users |= user_store.lock_users(session, others, shared=True)
        versions = {user_id: row.version for user_id, row in users.items()}
        for row in own:
            ws.add_identity(row)
        for row in identities.load_by_users(session, self.keyring, others):
            ws.add_identity(row)
        for user in users.values():
            ws.add_user(user)
        ws.rejected = review.rejected_pairs(session, sorted(users))
        # Who carries each key, as the store said: the walked users are not merged away yet,
        # so their candidates need no survivor lookups (a merge this chunk makes is followed
        # when the pair is compared).
        users_by_key: dict[HashedKey, set[uuid.UUID]] = {}
        for key_type, key_hash, _identity, user_id in found.rows:
            users_by_key.setdefault((key_type, key_hash), set()).add(user_id)

        frequency, population = term_frequency(
            session,
            self.keyring,
            ws,
            records,
            stored=identities.approximate_count(session),
            term_counts=self.term_counts,
            arriving=0,
        )
        prior = self.config.parameters.prior_weight_for(population)
        scorer = PairScorer(self.config.parameters, frequency, prior)
        resolver = Resolver(ws, self.keyring, self.config, scorer, ACTOR)
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for user_id in walked:
            reached = {
                other
                for m in ws.member_rows(user_id)
                for key in keys.get(m.id, ())
                for other in users_by_key.get(key, ())
            }
            for other in sorted(reached - {user_id}):
                a, b = ws.survivor(user_id), ws.survivor(other)
                if a != b and ws.is_live(a) and ws.is_live(b):
                    resolver.compare_users(a, b, seen, merge=self.merge)
        return RecomputeProgress(
            len(walked), len(seen), self._persist(session, ws, versions), len(ws.merges)
        )

    def _persist(self, session: Session, ws: Workspace, versions: dict[uuid.UUID, int]) -> int:
        """Write the merges and proposals; the number of review items opened."""
        if not ws.merges and not ws.reviews:
            return 0
        survived = SurvivalResult()
        if ws.merges:
            current = lineage.current(session, sorted(ws.resurvive))
            survived = survive_users(ws, self.keyring, self.config, current, ACTOR)
            lock_changed_users(session, ws, versions)
        return persist_changes(session, self.keyring, ws, self.config, survived, actor=ACTOR)


def _live_ids(after: uuid.UUID | None, until: uuid.UUID | None) -> Select[Any]:
    statement = (
        select(CanonicalUser.id)
        .where(CanonicalUser.status.in_(LIVE_STATUSES))
        .order_by(CanonicalUser.id)
    )
    if after is not None:
        statement = statement.where(CanonicalUser.id > after)
    if until is not None:
        statement = statement.where(CanonicalUser.id <= until)
    return statement


def split_points(
    session: Session,
    parts: int,
    after: uuid.UUID | None = None,
    until: uuid.UUID | None = None,
) -> list[uuid.UUID | None]:
    """Bounds that cut the live users above `after` (up to `until`) into `parts` runs of about
    equal size (as many as there are users, if fewer), for parallel passes: run k walks the
    ids above bound k up to bound k + 1 (None: no bound)."""
    live = _live_ids(after, until)
    count = session.scalar(select(func.count()).select_from(live.subquery())) or 0
    parts = max(min(parts, count), 1)
    # The last id of each part but the last one.
    lasts = [session.scalar(live.offset(count * k // parts - 1).limit(1)) for k in range(1, parts)]
    return [after, *lasts, until]
