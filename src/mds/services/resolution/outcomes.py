"""What each signal became: the per-signal answer of POST /v1/signals and `mds import`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    LINKED = "linked"
    CREATED = "created"
    REVIEW = "review"
    DUPLICATE = "duplicate-ignored"
    REJECTED = "rejected"
    ERASED = "erased"
    IGNORED = "ignored"  # older than an erasure of the same source record


@dataclass(frozen=True)
class SignalOutcome:
    event_id: str
    source_system: str
    status: Status
    user_id: uuid.UUID | None = None
    score: float | None = None
    issues: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    # Each field's contribution and the model version behind the decision (None when nothing
    # was decided: a duplicate, an erasure, an update that changed nothing). Kept in the audit
    # trail with the decision, not sent back to the caller.
    explanation: dict[str, Any] | None = field(default=None, compare=False)

    def error_text(self) -> str:
        """The errors in one line, each under the field it names (if any)."""
        return "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in self.errors
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "source_system": self.source_system,
            "decision": str(self.status),
            "user_id": str(self.user_id) if self.user_id else None,
            "score": self.score,
        }
        if self.issues:
            out["issues"] = self.issues
        if self.errors:
            out["errors"] = self.errors
        return out
