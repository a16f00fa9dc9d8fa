"""Matching's own tables: the review queue, merges and the versioned match models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mds.store.models.base import DUPLICATE_STATUSES, RISKS, Base, created_now, one_of


class PotentialDuplicate(Base):
    """The review queue; items carry the users' versions so stale items can close themselves."""

    __tablename__ = "potential_duplicates"
    __table_args__ = (
        CheckConstraint("user_a < user_b", name="ordered_pair"),
        CheckConstraint(one_of("status", DUPLICATE_STATUSES), name="status"),
        CheckConstraint(one_of("risk", RISKS), name="risk"),
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
    created_at: Mapped[datetime] = created_now()
    decided_by: Mapped[str | None]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None]


class MergeEvent(Base):
    """Every merge and unmerge, with an encrypted before-snapshot so unmerge restores exactly."""

    __tablename__ = "merge_events"
    __table_args__ = (
        CheckConstraint(one_of("kind", ("merge", "unmerge", "split")), name="kind"),
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
    created_at: Mapped[datetime] = created_now()
    undone_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merge_events.id"))


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
    created_at: Mapped[datetime] = created_now()
