"""Merging two users inside a workspace, with the snapshot that lets an unmerge restore them."""

from __future__ import annotations

import uuid
from typing import Any

from mds.domain.ids import new_id
from mds.services.resolution.workspace import Workspace
from mds.store.merges import MergeRecord


def user_snapshot(ws: Workspace, user_id: uuid.UUID) -> dict[str, Any]:
    """What an unmerge needs to put back: the user's version and its identities' links."""
    user = ws.users[user_id]
    return {
        "user_id": str(user.id),
        "version": user.version,
        "status": user.status,
        "identities": [
            {
                "id": str(m.id),
                "link_kind": m.link_kind,
                "match_score": m.match_score,
                "model_version": m.model_version,
            }
            for m in ws.member_rows(user.id)
        ],
    }


def merge_into(
    ws: Workspace,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    *,
    actor: str,
    reason: str | None,
    score: float | None = None,
) -> MergeRecord:
    """Move every identity of `merged_id` to `survivor_id`; the merged user points at it."""
    survivor, merged = ws.users[survivor_id], ws.users[merged_id]
    snapshot = {
        "survivor": user_snapshot(ws, survivor.id),
        "merged": user_snapshot(ws, merged.id),
        "score": score,
    }
    for member in ws.member_rows(merged.id):
        ws.attach(member, survivor.id)
    merged.status, merged.merged_into = "merged", survivor.id
    ws.merged_away[merged.id] = survivor.id
    ws.touch_user(merged.id)
    ws.touch_user(survivor.id)
    record = MergeRecord(new_id(), "merge", survivor.id, merged.id, snapshot, actor, reason)
    ws.merges.append(record)
    return record
