"""Audit trail use cases: verify the hash chain, and retention (drop partitions past it).

Verification runs in one read-only REPEATABLE READ snapshot, so appends committed meanwhile
neither show up as rows beyond the head nor hide one. Retention verifies the rows it is about
to drop first (their anchors are only as good as the rows), then drops partitions oldest first,
one transaction each, recording each drop in the trail itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.domain.audit import (
    RETENTION_FLOOR_YEARS,
    Anchor,
    AuditEntry,
    ChainVerifier,
    VerifyReport,
    check_anchors,
)
from mds.services.errors import ServiceError
from mds.store import audit as audit_store

SessionFactory = Callable[[], Session]
SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


class RetentionRefusedError(ServiceError):
    """Retention will not run as asked (below the floor, or the rows to drop do not verify)."""


def verify(session: Session, *, until_seq: int | None = None) -> VerifyReport:
    """Anchors, then stored rows up to `until_seq` (all by default), then the chain head.

    Reads in the caller's transaction: give it a snapshot (see `verify_trail`) for exactness."""
    start, problems = check_anchors(audit_store.anchors(session))
    verifier = ChainVerifier(start, prior=problems)
    for row in audit_store.stream_rows(session, until_seq=until_seq):
        verifier.feed(row)
    head = audit_store.chain_head(session)
    # A partial run (retention's pre-check) cannot judge the head unless it reached it.
    return verifier.finish(head if until_seq is None or until_seq >= head.last_seq else None)


def verify_trail(sessions: SessionFactory) -> VerifyReport:
    """Verify the whole trail in one consistent snapshot."""
    with sessions() as session:
        session.connection(execution_options=SNAPSHOT)
        return verify(session)


def check_retention(years: int) -> None:
    if years < RETENTION_FLOOR_YEARS:
        raise RetentionRefusedError(
            f"audit retention of {years} years is below the floor of {RETENTION_FLOOR_YEARS}",
            field="retention_years",
        )


@dataclass(frozen=True)
class Candidate:
    partition: audit_store.Partition
    rows: int


@dataclass
class RetentionResult:
    retention_years: int
    cutoff: datetime
    candidates: list[Candidate]
    dry_run: bool
    dropped: list[Anchor] = field(default_factory=list)
    verified_rows: int = 0


def plan(session: Session, retention_years: int) -> tuple[datetime, list[Candidate]]:
    """Partitions whose whole range is older than the retention, oldest first, with row counts.

    The cutoff is computed by PostgreSQL exactly as the drop function computes it."""
    check_retention(retention_years)
    cutoff: datetime = session.execute(
        text("SELECT now() - make_interval(years => :years)"), {"years": retention_years}
    ).scalar_one()
    candidates = [
        Candidate(partition, audit_store.row_count(session, partition))
        for partition in audit_store.partitions(session)
        if partition.range_end <= cutoff
    ]
    return cutoff, candidates


def run_retention(
    sessions: SessionFactory,
    retention_years: int,
    *,
    actor: str,
    dry_run: bool = False,
    verify_first: bool = True,
    lock_timeout_ms: int = 5000,
) -> RetentionResult:
    """Drop the partitions past the retention (or only list them, with `dry_run`)."""
    with sessions() as session:
        cutoff, candidates = plan(session, retention_years)
    result = RetentionResult(retention_years, cutoff, candidates, dry_run)
    if dry_run or not candidates:
        return result
    if verify_first:
        result.verified_rows = _verify_before_drop(sessions, candidates[-1].partition)
    for candidate in candidates:
        result.dropped.append(_drop(sessions, candidate, retention_years, actor, lock_timeout_ms))
    return result


def _verify_before_drop(sessions: SessionFactory, newest: audit_store.Partition) -> int:
    with sessions() as session:
        session.connection(execution_options=SNAPSHOT)
        last = audit_store.last_seq_before(session, newest.range_end)
        if last is None:
            return 0
        # One row past the dropped ones: its link to them is checked too.
        report = verify(session, until_seq=last + 1)
    if not report.intact:
        shown = "; ".join(p.describe() for p in report.problems[:5])
        raise RetentionRefusedError(
            f"the rows to drop do not verify ({report.problem_count} problem(s): {shown});"
            " investigate with `mds audit verify`, or drop anyway with --no-verify"
        )
    return report.rows_checked


def _drop(
    sessions: SessionFactory,
    candidate: Candidate,
    retention_years: int,
    actor: str,
    lock_timeout_ms: int,
) -> Anchor:
    partition = candidate.partition
    with sessions() as session, session.begin():
        # The drop needs an exclusive lock on audit_log: fail fast rather than queue appends.
        session.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
        # The record of the drop goes first: it takes the chain head before the table lock,
        # the order every appender uses, so the two cannot deadlock.
        audit_store.append(
            session,
            [
                AuditEntry(
                    actor,
                    "audit.partition_dropped",
                    "audit_partition",
                    partition.name,
                    {
                        "range_start": partition.range_start.isoformat(),
                        "range_end": partition.range_end.isoformat(),
                        "rows": candidate.rows,
                        "retention_years": retention_years,
                    },
                )
            ],
        )
        return audit_store.drop_partition(session, partition.name, retention_years)
