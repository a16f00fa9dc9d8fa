"""The audit trail's hash chain: each row's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENESIS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited fact. `details` must not carry PII: ids, decisions, scores, field names."""

    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any] = field(default_factory=dict)


def row_hash(previous: bytes, seq: int, occurred_at: datetime, entry: AuditEntry) -> bytes:
    canonical = json.dumps(
        [
            seq,
            occurred_at.isoformat(),
            entry.actor,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            entry.details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    return hashlib.sha256(previous + canonical).digest()
