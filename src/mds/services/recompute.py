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
from mds.services.resolution.workspace import Workspace
from mds.services.transactions import in_transaction
from mds.store import lineage, locks, match_keys, review
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.match_keys import HashedKey
from mds.store.models import LIVE_STATUSES, CanonicalUser

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
class _PairsWalked:
    """One chunk's bookkeeping against the walk's pairs scored ahead (left untouched until the
    chunk commits, so that a retried chunk starts from the same state)."""

    ahead: set[int]
    until: uuid.UUID | None
    chunk_end: uuid.UUID | None  # the chunk's last user: pairs within it are `seen`
    met: set[int] = field(default_factory=set)  # pairs found in `ahead`: scored before
    scored_ahead: set[int] = field(default_factory=set)  # pairs with a user still ahead

    def scored_before(self, user_id: uuid.UUID, other: uuid.UUID) -> bool:
        """The pair was scored when `other`, walked earlier, reached this user."""
        key = hash((other, user_id))
        if other < user_id and key in self.ahead:
            self.met.add(key)
            return True
        return False

    def scoring(self, user_id: uuid.UUID, other: uuid.UUID) -> None:
        """`user_id` and `other` are scored now: remember it if the walk will reach `other`
        in a later chunk."""
        later = self.chunk_end is not None and other > self.chunk_end
        if later and (self.until is None or other <= self.until):
            self.scored_ahead.add(hash((user_id, other)))


@dataclass
class _DryRunRollbackError(Exception):
    """Raised at the end of a dry-run chunk: rolls back what it wrote, carries what it did."""

    ids: list[uuid.UUID]
    progress: RecomputeProgress
    pairs: _PairsWalked


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
        # Pairs scored with a user this walk has yet to reach (hashes of the id pairs): when
        # it gets there, the pair is not scored again. Only those pending are kept, so memory
        # follows the pairs that straddle the walk's position (at most 62k over a 100k-user pass).
        ahead: set[int] = set()
        while True:
            ids, done, pairs = self._chunk_after(after, until, ahead)
            if not ids:
                return total
            after = ids[-1]
            ahead -= pairs.met
            ahead |= pairs.scored_ahead
            total += RecomputeProgress(done.users, done.pairs, done.proposed, done.merged, after)
            if on_chunk is not None:
                on_chunk(total)

    def _chunk_after(
        self, after: uuid.UUID | None, until: uuid.UUID | None, ahead: set[int]
    ) -> tuple[list[uuid.UUID], RecomputeProgress, _PairsWalked]:
        def work(session: Session) -> tuple[list[uuid.UUID], RecomputeProgress, _PairsWalked]:
            ids = list(session.scalars(_live_ids(after, until).limit(self.chunk)))
            pairs = _PairsWalked(ahead, until, ids[-1] if ids else None)
            done = self._compare(session, ids, pairs)
            if self.dry_run:
                raise _DryRunRollbackError(ids, done, pairs)
            return ids, done, pairs

        try:
            return in_transaction(self.sessions, work)
        except _DryRunRollbackError as rolled_back:
            return rolled_back.ids, rolled_back.progress, rolled_back.pairs

    def _compare(
        self, session: Session, chunk: Sequence[uuid.UUID], pairs: _PairsWalked
    ) -> RecomputeProgress:
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
        # Who carries each key, as the store said: the walked users are not merged away yet,
        # so their candidates need no survivor lookups (a merge this chunk makes is followed
        # when the pair is compared).
        users_by_key: dict[HashedKey, set[uuid.UUID]] = {}
        for key_type, key_hash, _identity, user_id in found.rows:
            users_by_key.setdefault((key_type, key_hash), set()).add(user_id)
        reached: dict[uuid.UUID, set[uuid.UUID]] = {user_id: set() for user_id in walked}
        for row in own:
            if row.user_id in reached:
                for key in keys.get(row.id, ()):
                    reached[row.user_id] |= users_by_key.get(key, set())
        for user_id, found_users in reached.items():
            found_users -= {user_id}
            found_users -= {o for o in found_users if pairs.scored_before(user_id, o)}
        # Candidates only met in pairs scored earlier in the walk are neither locked nor read.
        others = set().union(*reached.values()) - users.keys()
        users |= user_store.lock_users(session, others, shared=True)
        versions = {user_id: row.version for user_id, row in users.items()}
        for row in own:
            ws.add_identity(row)
        for row in identities.load_by_users(session, self.keyring, others):
            ws.add_identity(row)
        for user in users.values():
            ws.add_user(user)
        ws.rejected = review.rejected_pairs(session, users)

        frequency, population = term_frequency(
            session,
            self.keyring,
            records,
            stored=identities.approximate_count(session),
            term_counts=self.term_counts,
            caution=0.0,  # the store as it settled: see RARITY_CAUTION
        )
        prior = self.config.parameters.prior_weight_for(population)
        scorer = PairScorer(self.config.parameters, frequency, prior)
        resolver = Resolver(ws, self.keyring, self.config, scorer, ACTOR)
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for user_id in walked:
            for other in sorted(reached[user_id]):
                a, b = ws.survivor(user_id), ws.survivor(other)
                if a != b and ws.is_live(a) and ws.is_live(b):
                    pairs.scoring(user_id, other)
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
