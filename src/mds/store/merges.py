"""Merge events with encrypted before-snapshots, so an unmerge can restore exactly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
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
    snapshot: dict[str, Any]  # ids, versions and link scores; stored encrypted all the same
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


def latest_merge(
    session: Session,
    keyring: Keyring,
    *,
    merged_id: uuid.UUID | None = None,
    survivor_id: uuid.UUID | None = None,
) -> MergeRecord | None:
    """The most recent merge not undone yet, of `merged_id` and/or into `survivor_id`."""
    statement = select(MergeEvent).where(MergeEvent.kind == "merge", MergeEvent.undone_by.is_(None))
    if merged_id is not None:
        statement = statement.where(MergeEvent.merged_id == merged_id)
    if survivor_id is not None:
        statement = statement.where(MergeEvent.survivor_id == survivor_id)
    row = session.execute(
        statement.order_by(MergeEvent.created_at.desc(), MergeEvent.id).limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    snapshot = keyring.decrypt_json(row.snapshot_enc, snapshot_cell(row.id)) or {}
    return MergeRecord(
        row.id, row.kind, row.survivor_id, row.merged_id, snapshot, row.actor, row.reason
    )


def mark_undone(session: Session, merge_id: uuid.UUID, undone_by: uuid.UUID) -> None:
    session.execute(update(MergeEvent).where(MergeEvent.id == merge_id).values(undone_by=undone_by))
