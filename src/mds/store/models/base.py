"""The declarative base, naming convention and the helpers every table module uses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
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
# Users that records can still link to and whose golden record is kept (a suspended user
# is the same person, not merged automatically).
LIVE_STATUSES = ("active", "suspended")
LINK_KINDS = ("auto", "manual")
DUPLICATE_STATUSES = ("open", "merged", "rejected", "stale")
RISKS = ("normal", "high")
KEY_PURPOSES = ("data", "blind_index")
KEY_STATES = ("primary", "active", "retired", "destroyed")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def created_now() -> Mapped[datetime]:
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


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class (typed, for set-based statements)."""
    return cast(Table, model.__table__)
