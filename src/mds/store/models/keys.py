"""Wrapped data keys of the envelope encryption."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from mds.store.models.base import KEY_PURPOSES, KEY_STATES, Base, created_now, one_of


class EncryptionKey(Base):
    """Data keys wrapped by a key-encryption key; the plaintext key never reaches the database."""

    __tablename__ = "encryption_keys"
    __table_args__ = (
        CheckConstraint(one_of("purpose", KEY_PURPOSES), name="purpose"),
        CheckConstraint(one_of("state", KEY_STATES), name="state"),
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
    created_at: Mapped[datetime] = created_now()
    retired_at: Mapped[datetime | None]
