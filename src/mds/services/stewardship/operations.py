"""Merge, unmerge, split and erase: each one transaction, with its events and audit rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry
from mds.domain.events import UserEvent, UserEventType
from mds.domain.ids import new_id
from mds.security.keyring import Keyring
from mds.services.errors import ConflictError, InvalidFieldError, NotFoundError
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.merging import merge_into, user_snapshot
from mds.services.resolution.survival import public_profile
from mds.services.stewardship.changes import Change
from mds.services.transactions import in_transaction
from mds.store import merges, review
from mds.store import users as user_store
from mds.store.merges import MergeRecord

SETTABLE_STATUSES = ("active", "suspended")


@dataclass(frozen=True, slots=True)
class Result:
    """Which users an operation touched, and the merge event it recorded if any."""

    user_id: uuid.UUID
    other_user_id: uuid.UUID | None = None
    merge_event_id: uuid.UUID | None = None


@dataclass
class Stewardship:
    sessions: Callable[[], Session]
    keyring: Keyring
    config: ResolutionConfig

    def _change(self, session: Session, actor: str, *user_ids: uuid.UUID) -> Change:
        return Change.open(session, self.keyring, self.config, actor, user_ids)

    # --- merge -------------------------------------------------------------------------------

    def merge(
        self, survivor_id: uuid.UUID, other_id: uuid.UUID, *, actor: str, reason: str
    ) -> Result:
        return in_transaction(
            self.sessions, lambda s: self.merge_in(s, survivor_id, other_id, actor, reason)
        )

    def merge_in(
        self,
        session: Session,
        survivor_id: uuid.UUID,
        other_id: uuid.UUID,
        actor: str,
        reason: str,
    ) -> Result:
        """`other_id` into `survivor_id`, inside the caller's transaction (review decisions)."""
        if survivor_id == other_id:
            raise InvalidFieldError("user_id", "cannot merge a user into itself")
        change = self._change(session, actor, survivor_id, other_id)
        change.require_active(survivor_id)
        change.require_active(other_id)
        record = merge_into(change.ws, survivor_id, other_id, actor=actor, reason=reason)
        change.finish()
        return Result(survivor_id, other_id, record.id)

    # --- unmerge -----------------------------------------------------------------------------

    def unmerge(
        self,
        user_id: uuid.UUID,
        other_id: uuid.UUID | None,
        *,
        actor: str,
        reason: str,
    ) -> Result:
        return in_transaction(
            self.sessions, lambda s: self._unmerge(s, user_id, other_id, actor, reason)
        )

    def _find_merge(
        self, session: Session, user_id: uuid.UUID, other_id: uuid.UUID | None
    ) -> MergeRecord:
        """`user_id` is either the merged-away user, or the survivor (then `other_id`, if
        given, names the merged user; if not, its latest merge is undone)."""
        found = merges.latest_merge(session, self.keyring, merged_id=user_id)
        if found is None:
            found = merges.latest_merge(
                session, self.keyring, survivor_id=user_id, merged_id=other_id
            )
        if found is None:
            raise NotFoundError(f"no merge of or into user {user_id} to undo")
        return found

    def _unmerge(
        self,
        session: Session,
        user_id: uuid.UUID,
        other_id: uuid.UUID | None,
        actor: str,
        reason: str,
    ) -> Result:
        merge = self._find_merge(session, user_id, other_id)
        survivor_id, merged_id = merge.survivor_id, merge.merged_id
        change = self._change(session, actor, survivor_id, merged_id)
        ws = change.ws
        change.require_active(survivor_id)
        merged = ws.users[merged_id]
        if merged.status != "merged" or merged.merged_into != survivor_id:
            raise ConflictError(f"user {merged_id} is no longer merged into {survivor_id}")
        before = user_snapshot(ws, survivor_id)
        restored = {i["id"]: i for i in merge.snapshot.get("merged", {}).get("identities", [])}
        for row in ws.member_rows(survivor_id):
            held = restored.get(str(row.id))
            if held is None:
                continue  # the survivor's own, or arrived after the merge: it stays
            ws.attach(row, merged_id)
            row.link_kind = held.get("link_kind", row.link_kind)
            row.match_score = held.get("match_score")
            row.model_version = held.get("model_version")
        merged.status, merged.merged_into = "active", None
        ws.touch_user(merged_id)
        ws.touch_user(survivor_id)
        related = {"survivor_id": str(survivor_id), "restored_user_id": str(merged_id)}
        ws.announce[survivor_id] = (UserEventType.UNMERGED, related)
        ws.announce[merged_id] = (UserEventType.UNMERGED, related)
        undo = MergeRecord(
            new_id(),
            "unmerge",
            survivor_id,
            merged_id,
            {"survivor": before, "undoes": str(merge.id)},
            actor,
            reason,
        )
        ws.merges.append(undo)
        # A pair split apart by hand is not merged back by the next signal.
        review.record_rejection(session, (survivor_id, merged_id), actor=actor, reason=reason)
        change.audit.append(AuditEntry(actor, "user.restored", "user", str(merged_id), {**related}))
        change.finish()
        merges.mark_undone(session, merge.id, undo.id)
        return Result(merged_id, survivor_id, undo.id)

    # --- split -------------------------------------------------------------------------------

    def split(
        self, user_id: uuid.UUID, identity_id: uuid.UUID, *, actor: str, reason: str
    ) -> Result:
        return in_transaction(
            self.sessions, lambda s: self._split(s, user_id, identity_id, actor, reason)
        )

    def _split(
        self,
        session: Session,
        user_id: uuid.UUID,
        identity_id: uuid.UUID,
        actor: str,
        reason: str,
    ) -> Result:
        change = self._change(session, actor, user_id)
        ws = change.ws
        change.require_active(user_id)
        members = ws.member_rows(user_id)
        row = next((m for m in members if m.id == identity_id), None)
        if row is None:
            raise InvalidFieldError(
                "source_identity_id", f"{identity_id} is not linked to user {user_id}"
            )
        if len(members) == 1:
            raise ConflictError(f"{identity_id} is the only source identity of user {user_id}")
        before = user_snapshot(ws, user_id)
        new_user = ws.create_user()
        ws.attach(row, new_user.id)
        row.link_kind, row.match_score = "manual", None
        related = {"split_from": str(user_id), "new_user_id": str(new_user.id)}
        ws.announce[new_user.id] = (UserEventType.CREATED, related)
        ws.announce[user_id] = (UserEventType.UPDATED, related)
        record = MergeRecord(
            new_id(), "split", user_id, new_user.id, {"survivor": before}, actor, reason
        )
        ws.merges.append(record)
        change.finish()
        review.record_rejection(session, (user_id, new_user.id), actor=actor, reason=reason)
        return Result(new_user.id, user_id, record.id)

    # --- status ------------------------------------------------------------------------------

    def set_status(self, user_id: uuid.UUID, status: str, *, actor: str, reason: str) -> Result:
        return in_transaction(
            self.sessions, lambda s: self._set_status(s, user_id, status, actor, reason)
        )

    def _set_status(
        self, session: Session, user_id: uuid.UUID, status: str, actor: str, reason: str
    ) -> Result:
        if status not in SETTABLE_STATUSES:
            raise InvalidFieldError("status", f"must be one of {', '.join(SETTABLE_STATUSES)}")
        change = self._change(session, actor, user_id)
        user = change.ws.users[user_id]
        if user.status not in SETTABLE_STATUSES:
            raise ConflictError(f"user {user_id} is {user.status}")
        if user.status == status:
            return Result(user_id)  # already so: nothing to announce
        previous, user.status = user.status, status
        user.version += 1
        change.ws.dirty_users.add(user_id)
        profile = user_store.load_profiles(session, self.keyring, [user_id])[user_id]
        related = {"previous_status": previous, "reason": reason}
        change.events.append(
            UserEvent(
                UserEventType.STATUS_CHANGED,
                user_id,
                user.version,
                change.ws.now,
                public_profile(user_id, status, user.version, profile),
                ("status",),
                related,
            )
        )
        change.audit.append(
            AuditEntry(
                actor, "user.status_changed", "user", str(user_id), {**related, "to": status}
            )
        )
        change.finish()
        return Result(user_id)

    # --- erasure -----------------------------------------------------------------------------

    def erase(self, user_id: uuid.UUID, *, actor: str, reason: str) -> Result:
        return in_transaction(self.sessions, lambda s: self._erase(s, user_id, actor, reason))

    def _erase(self, session: Session, user_id: uuid.UUID, actor: str, reason: str) -> Result:
        change = self._change(session, actor, user_id)
        ws = change.ws
        user = ws.users[user_id]
        if user.status == "erased":
            return Result(user_id)  # idempotent: nothing left to destroy
        if user.status not in SETTABLE_STATUSES:
            change.require_active(user_id)  # names where a merged id went
        for row in ws.member_rows(user_id):
            ws.erase_identity(row, ws.now)
        ws.touch_user(user_id)
        change.audit.append(
            AuditEntry(actor, "user.erasure_requested", "user", str(user_id), {"reason": reason})
        )
        # No identity left: survivorship marks the user erased, and persisting it forgets every
        # value digest (also those no source identity supplied) and the events' profiles.
        change.finish()
        return Result(user_id)
