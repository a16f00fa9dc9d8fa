"""One batch of signals inside its transaction: load, resolve, survive, persist."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cache

from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry
from mds.domain.signals import Signal
from mds.matching.candidates import CANDIDATES_PER_RECORD, KEY_STRENGTH
from mds.matching.record import MatchRecord
from mds.matching.scoring import PairScorer, TermFrequency
from mds.matching.term_share import TermShare, term_share
from mds.security.keyring import Keyring
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.crowded_keys import CrowdedKeys
from mds.services.resolution.keys import (
    crosswise_tf_keys,
    hashed_blocking_keys,
    hashed_tf_keys,
    tf_key,
)
from mds.services.resolution.outcomes import SignalOutcome, Status
from mds.services.resolution.persist import few_rows, persist_workspace
from mds.services.resolution.resolver import Resolver, SignalView
from mds.services.resolution.survival import SurvivalResult, survive_users
from mds.services.resolution.workspace import PendingReview, Workspace
from mds.services.transactions import ConcurrentChangeError
from mds.store import audit, driver, inbox, lineage, match_keys, review
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.match_keys import HashedKey
from mds.store.review import ReviewItem

# Term frequencies are relative to at least this many identities: in a near-empty store every
# name would look common and exact name agreement would count for nothing.
MIN_TF_POPULATION = 1_000
# Early in a load (a young store) a name's share is a rough estimate: names that look rare to
# the first signals look common to later ones, so a link decided on rarity would depend on the
# arrival order. Ingestion takes a name as rare only if the upper bound of its share, this many
# deviations out, says so; `mds recompute` decides on the settled share itself, so what some
# order linked early, it links in every order, and then all orders agree.
RARITY_CAUTION = 2.0


@dataclass
class Batch:
    """One batch's transaction: what was asked, what was accepted, what was decided."""

    session: Session
    ws: Workspace
    keyring: Keyring
    config: ResolutionConfig
    signals: Sequence[Signal]
    fresh: list[int]
    views: list[SignalView]
    accepted: dict[tuple[str, str], int]
    outcomes: dict[int, SignalOutcome]
    actor: str
    population: Callable[[Session], int]
    term_counts: Callable[[Session, Sequence[HashedKey], int], dict[HashedKey, int]]
    after_load: Callable[[], None] | None = None
    expected_identities: int = 0  # the store's size once the load under way is in
    crowded: CrowdedKeys = field(default_factory=CrowdedKeys)
    locked_for_update: set[uuid.UUID] = field(default_factory=set)
    versions_read: dict[uuid.UUID, int] = field(default_factory=dict)

    def answer_duplicates(self) -> None:
        """Signals seen in an earlier batch: answered with what they became then, followed to
        the user it was merged into since."""
        fresh = set(self.fresh)
        duplicates = [i for i in range(len(self.signals)) if i not in fresh]
        keys = [(self.signals[i].source_system, self.signals[i].event_id) for i in duplicates]
        prior = inbox.prior_outcomes(self.session, keys)
        survivors = user_store.survivors(
            self.session, {p.user_id for p in prior.values() if p.user_id is not None}
        )
        for i, key in zip(duplicates, keys, strict=True):
            before = prior.get(key)
            user_id = before.user_id if before else None
            self.outcomes[i] = SignalOutcome(
                key[1],
                key[0],
                Status.DUPLICATE,
                survivors.get(user_id, user_id) if user_id else None,
                before.score if before else None,
            )

    def answer_repeats(self) -> None:
        """Signals repeated within this batch: answered with what their first copy became."""
        first = {(self.signals[i].source_system, self.signals[i].event_id): i for i in self.fresh}
        for i, outcome in self.outcomes.items():
            original = first.get((outcome.source_system, outcome.event_id))
            if outcome.status is Status.DUPLICATE and original is not None:
                became = self.outcomes[original]
                self.outcomes[i] = replace(outcome, user_id=became.user_id, score=became.score)

    def resolve(self) -> None:
        self._load()
        if self.after_load is not None:
            self.after_load()
        # Term frequencies are shares of the store as it is; the prior is for the store the
        # load ends in, so that it is the same for every batch of the load.
        frequency, population = self._term_frequency()
        prior = self.config.parameters.prior_weight_for(max(population, self.expected_identities))
        scorer = PairScorer(self.config.parameters, frequency, prior)
        resolver = Resolver(self.ws, self.keyring, self.config, scorer, self.actor)
        for i in sorted(self.fresh, key=lambda i: (self.signals[i].occurred_at, i)):
            s = self.signals[i]
            signal_id = self.accepted[(s.source_system, s.event_id)]
            self.outcomes[i] = resolver.resolve(s, signal_id, self.views[i])
        resolver.reconsider()
        ws = self.ws
        current = lineage.current(self.session, [u for u in ws.resurvive if u not in ws.new_users])
        survived = survive_users(ws, self.keyring, self.config, current, self.actor)
        self._persist(survived)

    def _load(self) -> None:
        """Everything the batch may read: a fixed number of queries, whatever its size."""
        session, keyring, ws = self.session, self.keyring, self.ws
        existing = identities.load_by_source(
            session, keyring, [self.signals[i].key for i in self.fresh]
        )
        wanted_by_signal = []
        for i in self.fresh:
            keys = list(self.views[i].keys)
            row = existing.get(self.signals[i].key)
            if row is not None and row.record is not None:
                keys += hashed_blocking_keys(row.record, keyring)
            # A key known to be crowded reaches no one: not asked again until it is forgotten.
            wanted_by_signal.append([key for key in keys if key not in self.crowded])
        candidates = match_keys.ranked_candidates(
            session, wanted_by_signal, KEY_STRENGTH, CANDIDATES_PER_RECORD
        )
        self.crowded.learn(candidates.crowded)
        found = candidates.rows
        kept = {row[3] for row in found}
        user_ids = kept | {r.user_id for r in existing.values() if r.user_id is not None}
        # Users these are queued against: a change this batch makes may settle the question.
        ws.open_pairs = review.open_pairs(session, user_ids)
        user_ids |= {u for pair in ws.open_pairs for u in pair}
        # Locked before their identities are read, so what is read is what a concurrent merge
        # or split committed, never half of it. The users of the records being updated will
        # change: locked for update at once. The other candidates are mostly only scored:
        # shared locks, so that concurrent batches reaching the same user do not wait for each
        # other; the few this batch changes are locked for update before it writes.
        self.locked_for_update = {r.user_id for r in existing.values() if r.user_id is not None}
        users = user_store.lock_users(session, self.locked_for_update)
        users |= user_store.lock_users(session, user_ids - self.locked_for_update, shared=True)
        self.versions_read = {user_id: row.version for user_id, row in users.items()}
        for row in existing.values():
            ws.add_identity(row)
        for row in identities.load_by_users(session, keyring, user_ids):
            ws.add_identity(row)
        for user in users.values():
            ws.add_user(user)
        ws.rejected = review.rejected_pairs(session, user_ids)
        for key_type, key_hash, identity_id, _user in found:
            ws.index_key((key_type, key_hash), identity_id)

    def _term_frequency(self) -> tuple[TermFrequency, int]:
        # Term frequency matters for exact agreement, i.e. for the incoming records' own values:
        # the signals' attributes and what their source identities already hold. The identities
        # the batch brings are counted up front, all of them: counted one by one as they were
        # resolved, the first of a common name in a young store's batch found it rare.
        records: list[MatchRecord] = []
        arriving: dict[tuple[str, str], MatchRecord] = {}
        for i in self.fresh:
            held = self.ws.by_source.get(self.signals[i].key)
            if held is None:
                arriving.setdefault(self.signals[i].key, self.views[i].record)
                continue
            records.append(self.views[i].record)
            if held.record is not None:
                records.append(held.record)
        return term_frequency(
            self.session,
            self.keyring,
            records,
            stored=self.population(self.session),
            term_counts=self.term_counts,
            arriving=list(arriving.values()),
            caution=RARITY_CAUTION,
        )

    def _persist(self, survived: SurvivalResult) -> None:
        self._lock_changed_users()
        persist_changes(
            self.session,
            self.keyring,
            self.ws,
            self.config,
            survived,
            actor=self.actor,
            before=self._record_outcomes,
        )

    def _lock_changed_users(self) -> None:
        lock_changed_users(self.session, self.ws, self.versions_read, self.locked_for_update)

    def _record_outcomes(self) -> list[AuditEntry]:
        rows, entries = [], []
        for i in self.fresh:
            s = self.signals[i]
            outcome = with_survivor(self.ws, self.outcomes[i])
            identity = self.ws.by_source.get(s.key)
            rows.append(
                {
                    "signal_id": self.accepted[(s.source_system, s.event_id)],
                    "outcome": str(outcome.status),
                    "user_id": outcome.user_id,
                    "source_identity_id": identity.id if identity else None,
                    "score": outcome.score,
                    "issues": outcome.issues,
                }
            )
            entries.append(
                AuditEntry(
                    self.actor,
                    "signal.resolved",
                    "source_identity",
                    f"{s.source_system}/{s.source_record_id}",
                    {
                        "event_id": s.event_id,
                        "event_type": str(s.event_type),
                        "decision": str(outcome.status),
                        "user_id": str(outcome.user_id) if outcome.user_id else None,
                        "score": outcome.score,
                        "model_version": self.config.parameters.version,
                        **({"explanation": outcome.explanation} if outcome.explanation else {}),
                    },
                )
            )
        inbox.record_outcomes(self.session, rows)
        return entries


def with_survivor(ws: Workspace, outcome: SignalOutcome) -> SignalOutcome:
    if outcome.user_id is None:
        return outcome
    survivor = ws.survivor(outcome.user_id)
    if survivor == outcome.user_id:
        return outcome
    return replace(outcome, user_id=survivor)


def term_frequency(
    session: Session,
    keyring: Keyring,
    records: Sequence[MatchRecord],
    *,
    stored: int,
    term_counts: Callable[[Session, Sequence[HashedKey], int], dict[HashedKey, int]],
    arriving: Sequence[MatchRecord] = (),
    caution: float,
) -> tuple[TermFrequency, int]:
    """How common each name value of these records is, in a store of `stored` identities that
    the `arriving` ones are joining (counted with them), and that population (at least
    MIN_TF_POPULATION). `caution`: how many deviations out each share's bound is taken
    (RARITY_CAUTION while ingesting)."""
    joining = Counter(k for r in arriving for k in hashed_tf_keys(r, keyring))
    held = [k for r in records for k in hashed_tf_keys(r, keyring)]
    crosswise = [k for r in (*records, *arriving) for k in crosswise_tf_keys(r, keyring)]
    counts = term_counts(session, [*joining, *held, *crosswise], stored)
    counted = stored + len(arriving)
    population = max(counted, MIN_TF_POPULATION)

    @cache  # one batch's names: the keyed hash is the costly part
    def frequency(field: str, value: str) -> TermShare | None:
        key = tf_key(field, value, keyring)
        total = counts.get(key, 0) + joining.get(key, 0)
        return term_share(total, counted, MIN_TF_POPULATION, caution) if total else None

    return frequency, population


def persist_changes(
    session: Session,
    keyring: Keyring,
    ws: Workspace,
    config: ResolutionConfig,
    survived: SurvivalResult,
    *,
    actor: str,
    before: Callable[[], list[AuditEntry]] = list,
) -> int:
    """Every write of a resolved workspace, the proposals to the review queue included, and the
    audit trail last (`before`'s entries first); the number of review items opened."""
    entries = persist_workspace(
        session, keyring, ws, survived, actor, debezium=config.debezium_outbox
    )
    items = review_items(ws, config)
    opened = review.propose(session, items)
    proposed = [
        AuditEntry(
            actor,
            "duplicate.proposed",
            "user",
            str(item.user_a),
            {"other_user": str(item.user_b), "score": item.score, "risk": item.risk},
        )
        for item in opened
    ]
    with driver.pipelined(session, enabled=few_rows(ws)):
        audit.append(session, before() + entries + proposed + survived.audit)
    return len(opened)


def review_items(ws: Workspace, config: ResolutionConfig) -> list[ReviewItem]:
    """One item per pair of (surviving) users the workspace queued, its latest proposal."""
    version = config.parameters.version or None
    latest: dict[tuple[uuid.UUID, uuid.UUID], PendingReview] = {}
    for pending in ws.reviews:  # the last word on a pair is the best informed one
        a, b = ws.survivor(pending.user_a), ws.survivor(pending.user_b)
        if a != b:
            latest[(min(a, b), max(a, b))] = pending
    return [
        ReviewItem(
            a,
            b,
            ws.users[a].version,
            ws.users[b].version,
            pending.probability,
            pending.explanation,
            version,
            str(pending.risk),
        )
        for (a, b), pending in latest.items()
    ]


def lock_changed_users(
    session: Session,
    ws: Workspace,
    versions_read: dict[uuid.UUID, int],
    locked_for_update: AbstractSet[uuid.UUID] = frozenset(),
) -> None:
    """Upgrade to FOR UPDATE the shared-locked users a workspace changes. A shared lock kept
    everyone else from changing them since they were read; a version that moved anyway means
    the reads are stale, and the transaction is run again."""
    changed = ws.dirty_users - ws.new_users - locked_for_update
    for user_id, row in user_store.lock_users(session, changed).items():
        if row.version != versions_read[user_id]:
            raise ConcurrentChangeError(f"user {user_id} changed while the batch ran")
