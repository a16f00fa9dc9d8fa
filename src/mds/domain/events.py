"""Change events about canonical users (DESIGN.md §7), one per change, in the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class UserEventType(StrEnum):
    CREATED = "user.created"
    UPDATED = "user.updated"
    MERGED = "user.merged"
    UNMERGED = "user.unmerged"
    ERASED = "user.erased"
    STATUS_CHANGED = "user.status_changed"


@dataclass(frozen=True, slots=True)
class UserEvent:
    type: UserEventType
    user_id: uuid.UUID
    version: int
    occurred_at: datetime
    profile: dict[str, Any]  # the golden record after the change (PII: encrypted at rest)
    changed: tuple[str, ...] = ()
    related: dict[str, Any] = field(default_factory=dict)  # e.g. {"merged_user_id": …}
    id: uuid.UUID = field(default_factory=uuid.uuid4)
