"""The tables of DESIGN.md §3 as SQLAlchemy 2 typed mappings.

PII columns end in `_enc` and hold only AES-GCM ciphertext (see mds.security.envelope); values
that must be searchable are reachable only through HMAC blind indexes in `match_keys`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_STATUSES = ("active", "merged", "erased", "suspended")
LINK_KINDS = ("auto", "manual")
DUPLICATE_STATUSES = ("open", "merged", "rejected", "stale")
RISKS = ("normal", "high")
KEY_PURPOSES = ("data", "blind_index")
KEY_STATES = ("primary", "active", "retired", "destroyed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        bytes: LargeBinary,
        str: Text,
    }


class CanonicalUser(Base):
    __tablename__ = "canonical_users"
    __table_args__ = (
        CheckConstraint(_one_of("status", USER_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'merged') = (merged_into IS NOT NULL)", name="merged_into_iff_merged"
        ),
        CheckConstraint("merged_into IS NULL OR merged_into <> id", name="not_merged_into_self"),
        Index(
            "ix_canonical_users_merged_into",
            "merged_into",
            postgresql_where="merged_into IS NOT NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    merged_into: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("canonical_users.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class CanonicalProfile(Base):
    __tablename__ = "canonical_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("canonical_users.id", ondelete="CASCADE"), primary_key=True
    )
    given_name_enc: Mapped[bytes | None]
    family_name_enc: Mapped[bytes | None]
    email_enc: Mapped[bytes | None]
    phone_enc: Mapped[bytes | None]
    date_of_birth_enc: Mapped[bytes | None]
    address_enc: Mapped[bytes | None]
    government_id_enc: Mapped[bytes | None]
    locale: Mapped[str | None] = mapped_column(String(35))
    preferences: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    updated_at: Mapped[datetime] = _created()


class SourceIdentity(Base):
    __tablename__ = "source_identities"
    __table_args__ = (
        UniqueConstraint("source_system", "source_record_id"),
        CheckConstraint(_one_of("link_kind", LINK_KINDS), name="link_kind"),
        Index("ix_source_identities_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source_system: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("canonical_users.id"))
    attributes_enc: Mapped[bytes | None]
    # The comparison view (mds.matching.record.MatchRecord) of the attributes, encrypted.
    match_record_enc: Mapped[bytes | None]
    # Per attribute: occurred_at and signal id of what supplied the held value (no PII).
    attribute_times: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    quality_issues: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    link_kind: Mapped[str] = mapped_column(String(16), server_default="auto")
    match_score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[int | None] = mapped_column(Integer)
    erased_at: Mapped[datetime | None]
    # occurred_at of the delete request: older signals for this record are ignored.
    erased_as_of: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Signal(Base):
    """The inbox: every accepted signal, once (idempotency on source_system + event_id)."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("source_system", "event_id"),
        Index("ix_signals_source_record", "source_system", "source_record_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(256))
    source_record_id: Mapped[str] = mapped_column(String(256))
    event_type: Mapped[str] = mapped_column(String(32))
    payload_digest: Mapped[bytes]
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = _created()
    outcome: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("canonical_users.id"))
    source_identity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("source_identities.id", ondelete="SET NULL")
    )
    score: Mapped[float | None] = mapped_column(Float)
    # Data-quality issues found in this signal's attributes (attribute, code, message; no values).
    issues: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))


class MatchKey(Base):
    """Blocking keys as blind-index hashes: (key_type, key_hash) → source identity and user."""

    __tablename__ = "match_keys"
    __table_args__ = (
        # user_id covered: candidate lookups are index-only scans.
        PrimaryKeyConstraint(
            "key_type", "key_hash", "source_identity_id", postgresql_include=["user_id"]
        ),
        Index("ix_match_keys_source_identity_id", "source_identity_id"),
    )

    key_type: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[bytes]
    # No foreign keys here nor on attribute_lineage: the engine writes these rows with the rows
    # they point at, and nothing is deleted; the checks cost a fifth of the database's CPU per
    # signal (migration 0006).
    source_identity_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]


class AttributeLineage(Base):
    __tablename__ = "attribute_lineage"
    __table_args__ = (
        Index(
            "uq_attribute_lineage_current",
            "user_id",
            "attribute",
            unique=True,
            postgresql_where="is_current",
        ),
        Index("ix_attribute_lineage_user_attribute", "user_id", "attribute", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID]
    attribute: Mapped[str] = mapped_column(String(64))
    source_identity_id: Mapped[uuid.UUID | None]
    signal_id: Mapped[int | None] = mapped_column(BigInteger)
    # Keyed digest (HMAC under the blind-index key): equality without a dictionary attack.
    value_digest: Mapped[bytes | None]
    rule: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = _created()
    is_current: Mapped[bool] = mapped_column(Boolean, server_default="true")
    superseded_at: Mapped[datetime | None]


class PotentialDuplicate(Base):
    """The review queue; items carry the users' versions so stale items can close themselves."""

    __tablename__ = "potential_duplicates"
    __table_args__ = (
        CheckConstraint("user_a < user_b", name="ordered_pair"),
        CheckConstraint(_one_of("status", DUPLICATE_STATUSES), name="status"),
        CheckConstraint(_one_of("risk", RISKS), name="risk"),
        Index(
            "uq_potential_duplicates_open_pair",
            "user_a",
            "user_b",
            unique=True,
            postgresql_where="status = 'open'",
        ),
        Index("ix_potential_duplicates_status_risk", "status", "risk", "created_at"),
        Index("ix_potential_duplicates_user_b", "user_b"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_a: Mapped[uuid.UUID] = mapped_column(ForeignKey("canonical_users.id"))
    user_b: Mapped[uuid.UUID] = mapped_column(ForeignKey("canonical_users.id"))
    user_a_version: Mapped[int] = mapped_column(Integer)
    user_b_version: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    model_version: Mapped[int | None] = mapped_column(Integer)
    risk: Mapped[str] = mapped_column(String(16), server_default="normal")
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    created_at: Mapped[datetime] = _created()
    decided_by: Mapped[str | None]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None]


class MergeEvent(Base):
    """Every merge and unmerge, with an encrypted before-snapshot so unmerge restores exactly."""

    __tablename__ = "merge_events"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ("merge", "unmerge", "split")), name="kind"),
        Index("ix_merge_events_survivor_id", "survivor_id"),
        Index("ix_merge_events_merged_id", "merged_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("canonical_users.id"))
    merged_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("canonical_users.id"))
    snapshot_enc: Mapped[bytes | None]
    reason: Mapped[str | None]
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = _created()
    undone_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merge_events.id"))


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
    occurred_at: Mapped[datetime] = _created()
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
    dropped_at: Mapped[datetime] = _created()


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
    created_at: Mapped[datetime] = _created()
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
    received_at: Mapped[datetime] = _created()


class EncryptionKey(Base):
    """Data keys wrapped by a key-encryption key; the plaintext key never reaches the database."""

    __tablename__ = "encryption_keys"
    __table_args__ = (
        CheckConstraint(_one_of("purpose", KEY_PURPOSES), name="purpose"),
        CheckConstraint(_one_of("state", KEY_STATES), name="state"),
        Index(
            "uq_encryption_keys_one_primary",
            "purpose",
            unique=True,
            postgresql_where="state = 'primary'",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    kek_id: Mapped[str] = mapped_column(String(128))
    wrapped_key: Mapped[bytes | None]
    created_at: Mapped[datetime] = _created()
    retired_at: Mapped[datetime | None]


class MatchModel(Base):
    """Versioned matching parameters (m/u probabilities, thresholds); one is active."""

    __tablename__ = "match_models"
    __table_args__ = (
        Index("uq_match_models_active", "is_active", unique=True, postgresql_where="is_active"),
    )

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parameters: Mapped[dict[str, Any]]
    description: Mapped[str | None]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created()


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class (typed, for set-based statements)."""
    return cast(Table, model.__table__)
