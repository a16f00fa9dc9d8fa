"""Merge events with encrypted before-snapshots, so an unmerge can restore exactly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store.models import MergeEvent


@dataclass(frozen=True, slots=True)
class MergeRecord:
    id: uuid.UUID
    kind: str
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    snapshot: dict[str, Any]  # PII inside: stored encrypted
    actor: str
    reason: str | None


def snapshot_cell(merge_id: uuid.UUID) -> CellContext:
    return CellContext("merge_events", "snapshot_enc", str(merge_id))


def record(session: Session, keyring: Keyring, merges: Sequence[MergeRecord]) -> None:
    if merges:
        session.execute(
            insert(MergeEvent),
            [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "survivor_id": m.survivor_id,
                    "merged_id": m.merged_id,
                    "snapshot_enc": keyring.encrypt_json(m.snapshot, snapshot_cell(m.id)),
                    "actor": m.actor,
                    "reason": m.reason,
                }
                for m in merges
            ],
        )
