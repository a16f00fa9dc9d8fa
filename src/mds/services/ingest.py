"""The ingest use case: resolve a batch of signals in one transaction, set-based.

Order of work inside the transaction:
1. advisory locks on every blocking-key hash of the batch (sorted), so concurrent workers that
   see the same person serialize here instead of both creating a user;
2. the inbox insert (duplicates drop out), then every read the batch needs, in a few queries;
3. resolution in memory, signal by signal, in `occurred_at` order;
4. survivorship, then every write, each one statement for the whole batch; the audit append
   goes last because it locks the chain head until commit.
Deadlocks and serialization failures roll the batch back and retry it. A batch PostgreSQL
refuses for its data (an invalid value, a violated constraint) is split in halves until the
signals it refuses stand alone: those are rejected with PostgreSQL's reason, the rest go on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from mds.domain.signals import Signal
from mds.observability import count_decisions, record_resolution
from mds.security.keyring import Keyring
from mds.services.resolution.batch import Batch, with_survivor
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.crowded_keys import CrowdedKeys
from mds.services.resolution.keys import source_lock_key
from mds.services.resolution.outcomes import SignalOutcome, Status
from mds.services.resolution.persist import SMALL_BATCH
from mds.services.resolution.resolver import SignalView
from mds.services.resolution.term_counts import TermCounts
from mds.services.resolution.workspace import Workspace
from mds.services.transactions import ConcurrentChangeError, in_transaction
from mds.store import driver, inbox, locks, match_keys
from mds.store import source_identities as identities
from mds.store.inbox import InboxEntry

log = structlog.get_logger(__name__)


def payload_digest(signal: Signal) -> bytes:
    return hashlib.sha256(signal.model_dump_json().encode()).digest()


@dataclass
class IngestService:
    sessions: Callable[[], Session]
    keyring: Keyring
    config: ResolutionConfig
    # Test seams: the concurrency tests force two batches to interleave after their reads, and
    # run a control without the advisory locks to show that the locks are what prevents
    # duplicate users. Production code never sets them.
    after_load: Callable[[], None] | None = None
    advisory_locks: bool = True
    # What the store said about common values, worth keeping from batch to batch: a process
    # that builds a service per batch (to pick up a new model) passes the same ones each time.
    term_counts: TermCounts = field(default_factory=TermCounts)
    crowded_keys: CrowdedKeys = field(default_factory=CrowdedKeys)
    _load_target: int = 0

    def expect_load(self, signals: int) -> None:
        """A load of `signals` signals is starting: size the match prior for the store it ends
        in. The prior falls as the store grows (more people, more chance look-alikes); in a young
        store the same pair would link early in the load and not late, so arrival order would
        decide. Every signal may bring a new identity, so this is an upper bound."""
        with self.sessions() as session:
            self._load_target = self.population(session) + signals

    def population(self, session: Session) -> int:
        """Identities in the store, counted for every batch: term frequencies are counts over
        this, so the two must move together (a population kept while the counts grew made
        names look rarer and rarer during a bulk load, and decisions depend on arrival order)."""
        return identities.approximate_count(session)

    def ingest(self, signals: Sequence[Signal], actor: str = "ingest") -> list[SignalOutcome]:
        """Each signal's outcome, resolved in one transaction; counted in the metrics."""
        started = time.perf_counter()
        outcomes = self._ingest_refusing_alone(signals, actor)
        elapsed = time.perf_counter() - started
        record_resolution(actor, [str(outcome.status) for outcome in outcomes], elapsed)
        return outcomes

    def ingest_isolated(
        self, signals: Sequence[Signal], actor: str = "ingest"
    ) -> list[SignalOutcome]:
        """As `ingest`, but a signal whose resolution fails (a defect, data that cannot be
        read) is split off until it stands alone and answered `rejected` with the error, so
        that one bad record does not stop the others (imports, the Kafka worker). Nothing of
        it is kept, not even in the inbox: once the cause is fixed, it can be sent again. A
        database that is away, or contention that outlasted the retries, still raises."""

        def unresolvable(signal: Signal, exc: Exception) -> SignalOutcome:
            count_decisions(actor, [str(Status.REJECTED)])
            return _unresolvable(signal, exc)

        return _split_until_alone(
            signals,
            lambda part: self.ingest(part, actor),
            splits_on=_signals_fault,
            alone=unresolvable,
        )

    def rehearse(self, signals: Sequence[Signal]) -> list[SignalOutcome]:
        """Each signal's outcome, resolved one after another as separate requests would be,
        in one transaction that is then rolled back: nothing is kept, nothing counted in the
        metrics (see `mds.services.rehearsal`)."""
        with self.sessions() as session:
            transaction = session.begin()
            try:
                return [
                    outcome
                    for signal in signals
                    for outcome in self._ingest(session, [signal], "rehearsal")
                ]
            finally:
                transaction.rollback()

    def _ingest_refusing_alone(self, signals: Sequence[Signal], actor: str) -> list[SignalOutcome]:
        return _split_until_alone(
            signals,
            lambda part: in_transaction(
                self.sessions, lambda session: self._ingest(session, part, actor)
            ),
            splits_on=lambda exc: isinstance(exc, DataError | IntegrityError),
            alone=_unstorable,
        )

    def _ingest(
        self, session: Session, signals: Sequence[Signal], actor: str
    ) -> list[SignalOutcome]:
        ws = Workspace(now=self.config.clock())
        early = [self._too_early(s, ws.now) for s in signals]
        timely = [s for s, rejected in zip(signals, early, strict=True) if rejected is None]
        resolved = iter(self._resolve(session, ws, timely, actor))
        return [rejected or next(resolved) for rejected in early]

    def _too_early(self, signal: Signal, now: datetime) -> SignalOutcome | None:
        """A signal from the future is refused: by recency it would win over every signal until
        its time came (a clock off by a year, a mistyped year), and it keeps nothing from
        coming back later, once its time is real."""
        ahead = signal.occurred_at - now
        if ahead <= self.config.max_clock_skew:
            return None
        allowed = self.config.max_clock_skew.total_seconds()
        message = f"{ahead} ahead of the service's clock (at most {allowed:.0f} s is allowed)"
        return _rejected(signal, message, field="occurred_at")

    def _resolve(
        self, session: Session, ws: Workspace, signals: Sequence[Signal], actor: str
    ) -> list[SignalOutcome]:
        if not signals:
            return []
        today = ws.now.date()
        views = [SignalView.of(s, self.config, today, self.keyring) for s in signals]
        # A crowded key reaches no candidate: its lock would only make concurrent batches wait.
        # Asked of the store when nothing is known, so that importers starting together do not
        # queue behind each other's first batch.
        if self.crowded_keys.empty and self.advisory_locks:
            self.crowded_keys.learn(
                match_keys.crowded_keys(session, [key for view in views for key in view.keys])
            )
        lock_digests = [
            key[1] for view in views for key in view.keys if key not in self.crowded_keys
        ]
        lock_digests += [
            source_lock_key(s.source_system, s.source_record_id, self.keyring) for s in signals
        ]
        entries = [
            InboxEntry(
                s.source_system,
                s.event_id,
                s.source_record_id,
                str(s.event_type),
                payload_digest(s),
                s.occurred_at,
            )
            for s in signals
        ]
        # The transaction's BEGIN, the locks and the inbox in one round trip.
        with driver.pipelined(session, enabled=len(signals) <= SMALL_BATCH):
            if self.advisory_locks:
                locks.lock_hashes(session, lock_digests)
            accepted = inbox.accept(session, entries)
        outcomes: dict[int, SignalOutcome] = {}
        fresh: list[int] = []
        seen: set[tuple[str, str]] = set()
        for index, s in enumerate(signals):
            key = (s.source_system, s.event_id)
            if key in accepted and key not in seen:
                fresh.append(index)
                seen.add(key)
        batch = Batch(
            session,
            ws,
            self.keyring,
            self.config,
            signals,
            fresh,
            views,
            accepted,
            outcomes,
            actor,
            self.population,
            self.term_counts,
            self.after_load,
            max(self.config.expected_identities, self._load_target),
            self.crowded_keys,
        )
        batch.answer_duplicates()
        if fresh:
            batch.resolve()
            batch.answer_repeats()
        return [with_survivor(ws, outcomes[i]) for i in range(len(signals))]


def _split_until_alone(
    signals: Sequence[Signal],
    resolve: Callable[[Sequence[Signal]], list[SignalOutcome]],
    *,
    splits_on: Callable[[Exception], bool],
    alone: Callable[[Signal, Exception], SignalOutcome],
) -> list[SignalOutcome]:
    """`resolve(signals)`; when it fails so that `splits_on` says one signal may be to blame,
    each half again, down to the signals that fail alone, which `alone` answers."""
    try:
        return resolve(signals)
    except Exception as exc:
        if not splits_on(exc):
            raise
        if len(signals) == 1:
            return [alone(signals[0], exc)]
        half = len(signals) // 2
        first = _split_until_alone(signals[:half], resolve, splits_on=splits_on, alone=alone)
        return first + _split_until_alone(signals[half:], resolve, splits_on=splits_on, alone=alone)


def _signals_fault(exc: Exception) -> bool:
    """Not a database that is away, nor contention that outlasted the retries."""
    return not isinstance(exc, OperationalError | InterfaceError | ConcurrentChangeError)


def _unresolvable(signal: Signal, exc: Exception) -> SignalOutcome:
    """A signal whose resolution failed on its own (a defect, data that cannot be read)."""
    log.exception(
        "ingest.resolution_failed", source_system=signal.source_system, event_id=signal.event_id
    )
    return _rejected(signal, f"resolution failed: {type(exc).__name__}: {exc}")


def _unstorable(signal: Signal, exc: Exception) -> SignalOutcome:
    """A signal PostgreSQL refused on its own, with the reason (never the values: PII)."""
    orig = getattr(exc, "orig", exc)  # the driver's error under SQLAlchemy's
    diagnostics = getattr(orig, "diag", None)
    reason = getattr(diagnostics, "message_primary", None) or type(orig).__name__
    log.warning(
        "ingest.unstorable",
        source_system=signal.source_system,
        event_id=signal.event_id,
        sqlstate=getattr(orig, "sqlstate", None),
        reason=reason,
    )
    return _rejected(signal, f"could not be stored: {reason}")


def _rejected(signal: Signal, message: str, field: str = "") -> SignalOutcome:
    errors = [{"field": field, "message": message}]
    return SignalOutcome(signal.event_id, signal.source_system, Status.REJECTED, errors=errors)
