"""Golden records and what they are resolved from: users, profiles, source identities,
the signals inbox, match keys and attribute lineage."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mds.store.models.base import LINK_KINDS, USER_STATUSES, Base, created_now, one_of


class CanonicalUser(Base):
    __tablename__ = "canonical_users"
    __table_args__ = (
        CheckConstraint(one_of("status", USER_STATUSES), name="status"),
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
    created_at: Mapped[datetime] = created_now()
    updated_at: Mapped[datetime] = created_now()


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
    updated_at: Mapped[datetime] = created_now()


class SourceIdentity(Base):
    __tablename__ = "source_identities"
    __table_args__ = (
        UniqueConstraint("source_system", "source_record_id"),
        CheckConstraint(one_of("link_kind", LINK_KINDS), name="link_kind"),
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
    created_at: Mapped[datetime] = created_now()
    updated_at: Mapped[datetime] = created_now()


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
    received_at: Mapped[datetime] = created_now()
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
    recorded_at: Mapped[datetime] = created_now()
    is_current: Mapped[bool] = mapped_column(Boolean, server_default="true")
    superseded_at: Mapped[datetime | None]
