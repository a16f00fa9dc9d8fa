"""What leaves the store or could not enter it: the outbox and ingest errors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mds.store.models.base import Base, created_now


class Outbox(Base):
    """Debezium Outbox Event Router layout, plus what the built-in relay and change feed need.

    `seq` is drawn when the row is written, so transactions can commit out of `seq` order;
    `position` is given by the sequencer (one at a time) to rows it sees committed, so it only
    grows in commit order, and readers that go by position never skip a late committer.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unsequenced", "seq", postgresql_where="position IS NULL"),
        Index("uq_outbox_position", "position", unique=True),
        Index(
            "ix_outbox_unpublished",
            "position",
            postgresql_where="published_at IS NULL AND position IS NOT NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    aggregatetype: Mapped[str] = mapped_column(String(64))
    aggregateid: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_now()
    position: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime | None]


class IngestError(Base):
    """A Kafka message the ingestion worker could not use (it went to the dead-letter topic)."""

    __tablename__ = "ingest_errors"
    __table_args__ = (UniqueConstraint("topic", "partition", "offset"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(String(256))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str | None]
    error: Mapped[str]
    # The raw message may hold PII: encrypted like every other PII cell.
    payload_enc: Mapped[bytes | None]
    payload_size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = created_now()
