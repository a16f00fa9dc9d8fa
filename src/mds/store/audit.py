"""Appending to the audit trail: serialized on the chain head, partitions made on demand."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry, row_hash
from mds.store.bulk import copy_rows
from mds.store.models import AuditChain, AuditLog, table_of


def append(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append entries in order. Locks the chain head until commit: call it last in a transaction."""
    if not entries:
        return
    last_seq, last_hash, now = session.execute(
        text(
            "SELECT last_seq, last_hash, now(), mds_audit_ensure_partition(now())"
            " FROM audit_chain WHERE id = 1 FOR UPDATE"
        )
    ).one()[:3]
    rows = []
    previous = bytes(last_hash)
    for offset, entry in enumerate(entries, start=1):
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
    session.execute(
        update(AuditChain)
        .where(AuditChain.id == 1)
        .values(last_seq=last_seq + len(entries), last_hash=previous)
    )
