"""The audit trail: the log, its hash-chain head and the retention anchors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mds.store.models.base import Base, created_now


class AuditLog(Base):
    """Append-only, hash-chained, partitioned by month (partitions are made by SQL functions)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        PrimaryKeyConstraint("occurred_at", "seq"),
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_seq", "seq"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = created_now()
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    prev_hash: Mapped[bytes]
    row_hash: Mapped[bytes]


class AuditChain(Base):
    """The head of the audit hash chain: one row, locked by each appender, so appends serialize."""

    __tablename__ = "audit_chain"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[bytes]


class AuditAnchor(Base):
    """The chain ends of an audit partition dropped by retention, so the rest still verifies.

    Written only by the SQL function `mds_audit_drop_partition`; a trigger refuses UPDATE, DELETE
    and TRUNCATE. An empty partition leaves an anchor with `row_count` 0 and no ends."""

    __tablename__ = "audit_anchors"
    __table_args__ = (
        CheckConstraint(
            "row_count = 0 OR (first_seq IS NOT NULL AND first_prev_hash IS NOT NULL"
            " AND last_seq IS NOT NULL AND last_row_hash IS NOT NULL)",
            name="ends_known",
        ),
    )

    partition_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    range_start: Mapped[datetime]
    range_end: Mapped[datetime]
    row_count: Mapped[int] = mapped_column(BigInteger)
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    first_prev_hash: Mapped[bytes | None]
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_row_hash: Mapped[bytes | None]
    dropped_at: Mapped[datetime] = created_now()
