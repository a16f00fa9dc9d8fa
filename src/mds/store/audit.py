"""The audit trail in the database: appends serialized on the chain head, partitions made on
demand, rows streamed back for verification, old partitions dropped through the SQL function
that enforces the retention floor and keeps their anchors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mds.domain.audit import Anchor, AuditEntry, AuditRow, ChainHead, as_stored, row_hash
from mds.store import driver
from mds.store.bulk import copy_rows
from mds.store.models import AuditAnchor, AuditChain, AuditLog, table_of

STREAM_BATCH = 5000


# The head's row lock, then the clock, in one statement: the clock is a lateral subquery of the
# locked row (OFFSET 0 keeps it from being flattened), so it is read once the lock is granted.
# One evaluation of the clock serves both the rows and the partition they need.
_LOCK_HEAD_THEN_CLOCK = driver.compiled(
    text(
        "SELECT head.last_seq, head.last_hash, clock.ts, mds_audit_ensure_partition(clock.ts)"
        " FROM (SELECT last_seq, last_hash FROM audit_chain WHERE id = 1 FOR UPDATE) AS head"
        " CROSS JOIN LATERAL"
        " (SELECT clock_timestamp() AS ts WHERE head.last_seq IS NOT NULL OFFSET 0) AS clock"
    )
)
_MOVE_HEAD = driver.compiled(
    text("UPDATE audit_chain SET last_seq = :seq, last_hash = :hash WHERE id = 1")
)


def append(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append entries in order. Locks the chain head until commit: call it last in a transaction.

    The rows' time is read after the lock is granted (clock_timestamp, not the transaction's
    start): seq order is then time order, so a month's partition holds a contiguous seq range
    and retention can drop it with a single anchor."""
    if not entries:
        return
    last_seq, last_hash, now, _partition = driver.one(session, _LOCK_HEAD_THEN_CLOCK)
    now = now.astimezone(UTC)
    rows = []
    previous = bytes(last_hash)
    for offset, given in enumerate(entries, start=1):
        entry = as_stored(given)
        seq = last_seq + offset
        digest = row_hash(previous, seq, now, entry)
        rows.append(
            {
                "seq": seq,
                "occurred_at": now,
                "actor": entry.actor,
                "action": entry.action,
                "entity_type": entry.entity_type,
                "entity_id": entry.entity_id,
                "details": entry.details,
                "prev_hash": previous,
                "row_hash": digest,
            }
        )
        previous = digest
    copy_rows(session, table_of(AuditLog), rows)
    driver.execute(session, _MOVE_HEAD, {"seq": last_seq + len(entries), "hash": previous})


def chain_head(session: Session) -> ChainHead:
    head = session.execute(select(AuditChain.last_seq, AuditChain.last_hash)).one()
    return ChainHead(head.last_seq, bytes(head.last_hash))


def anchors(session: Session) -> list[Anchor]:
    """Anchors of dropped partitions, oldest first."""
    table = table_of(AuditAnchor)
    rows = session.execute(select(table).order_by(table.c.range_start))
    return [
        Anchor(
            row.partition_name,
            row.row_count,
            row.first_seq,
            _bytes(row.first_prev_hash),
            row.last_seq,
            _bytes(row.last_row_hash),
        )
        for row in rows
    ]


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def stream_rows(
    session: Session, *, until_seq: int | None = None, batch: int = STREAM_BATCH
) -> Iterator[AuditRow]:
    """Rows in seq order through a server-side cursor: memory stays flat however long the trail.

    Ties (an inserted row reusing a seq) come oldest first."""
    log = table_of(AuditLog)
    statement = select(
        log.c.seq,
        log.c.occurred_at,
        log.c.actor,
        log.c.action,
        log.c.entity_type,
        log.c.entity_id,
        log.c.details,
        log.c.prev_hash,
        log.c.row_hash,
    ).order_by(log.c.seq, log.c.occurred_at)
    if until_seq is not None:
        statement = statement.where(log.c.seq <= until_seq)
    result = session.execute(statement, execution_options={"yield_per": batch})
    for row in result:
        entry = AuditEntry(row.actor, row.action, row.entity_type, row.entity_id, row.details)
        yield AuditRow(row.seq, row.occurred_at, entry, bytes(row.prev_hash), bytes(row.row_hash))


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    range_start: datetime
    range_end: datetime


def partitions(session: Session) -> list[Partition]:
    """The audit log's partitions with their bounds, oldest first."""
    rows = session.execute(
        text("SELECT partition_name, range_start, range_end FROM mds_audit_partitions()")
    )
    return [Partition(*row) for row in rows]


def row_count(session: Session, partition: Partition) -> int:
    log = table_of(AuditLog)
    statement = select(func.count()).where(
        log.c.occurred_at >= partition.range_start, log.c.occurred_at < partition.range_end
    )
    return int(session.execute(statement).scalar_one())


def last_seq_before(session: Session, end: datetime) -> int | None:
    """The highest seq among rows older than `end` (partition pruning keeps this cheap)."""
    log = table_of(AuditLog)
    value = session.execute(select(func.max(log.c.seq)).where(log.c.occurred_at < end))
    return value.scalar_one_or_none()


def drop_partition(session: Session, name: str, retention_years: int) -> Anchor:
    """Drop one partition through the database function (which re-checks the floor and age and
    records the anchor in the same transaction)."""
    row = session.execute(
        text("SELECT * FROM mds_audit_drop_partition(:name, make_interval(years => :years))"),
        {"name": name, "years": retention_years},
    ).one()
    return Anchor(
        row.partition_name,
        row.row_count,
        row.first_seq,
        _bytes(row.first_prev_hash),
        row.last_seq,
        _bytes(row.last_row_hash),
    )
