"""The batch's working set: identities and users loaded or made, and what changed.

Everything a batch decides is applied here first, in memory, so that later signals of the same
batch see earlier ones (two sign-ups of one person in one batch become one user); the store is
written once at the end, set-based.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mds.domain.events import UserEventType
from mds.domain.ids import new_id
from mds.domain.normalization import NormalizedRecord
from mds.matching.record import MatchRecord
from mds.store.match_keys import HashedKey
from mds.store.merges import MergeRecord
from mds.store.models import LIVE_STATUSES
from mds.store.source_identities import IdentityRow
from mds.store.users import UserRow


@dataclass(frozen=True, slots=True)
class PendingReview:
    user_a: uuid.UUID
    user_b: uuid.UUID
    probability: float
    explanation: dict[str, Any]
    risk: str


@dataclass
class Workspace:
    now: datetime
    identities: dict[uuid.UUID, IdentityRow] = field(default_factory=dict)
    by_source: dict[tuple[str, str], IdentityRow] = field(default_factory=dict)
    users: dict[uuid.UUID, UserRow] = field(default_factory=dict)
    members: defaultdict[uuid.UUID, set[uuid.UUID]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # Keys carried by identities, from the store (candidates) and from this batch.
    key_index: defaultdict[HashedKey, set[uuid.UUID]] = field(
        default_factory=lambda: defaultdict(set)
    )

    new_identities: set[uuid.UUID] = field(default_factory=set)
    dirty_identities: set[uuid.UUID] = field(default_factory=set)
    new_users: set[uuid.UUID] = field(default_factory=set)
    dirty_users: set[uuid.UUID] = field(default_factory=set)
    resurvive: set[uuid.UUID] = field(default_factory=set)
    merges: list[MergeRecord] = field(default_factory=list)
    merged_away: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    reviews: list[PendingReview] = field(default_factory=list)
    erased_identities: set[uuid.UUID] = field(default_factory=set)
    # The user each erased identity left (its values' lineage is kept under that user).
    erased_from: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    normalized: dict[uuid.UUID, NormalizedRecord] = field(default_factory=dict)
    # Blocking keys already hashed for a record this batch, so writing them does not hash again.
    record_keys: dict[MatchRecord, list[HashedKey]] = field(default_factory=dict)
    # Users whose next event is of a given kind whatever changed (unmerge, split), with the
    # event's related ids.
    announce: dict[uuid.UUID, tuple[UserEventType, dict[str, Any]]] = field(default_factory=dict)
    # Pairs a steward kept apart (rejected or split), with the score they were rejected at.
    rejected: dict[tuple[uuid.UUID, uuid.UUID], float] = field(default_factory=dict)
    # Pairs of users with an open review item, from the store.
    open_pairs: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)

    # --- loading -------------------------------------------------------------------------

    def add_identity(self, row: IdentityRow) -> None:
        if row.id in self.identities:
            return
        self.identities[row.id] = row
        self.by_source[row.key] = row
        if row.user_id is not None:
            self.members[row.user_id].add(row.id)

    def add_user(self, row: UserRow) -> None:
        self.users.setdefault(row.id, row)

    def index_key(self, key: HashedKey, identity_id: uuid.UUID) -> None:
        self.key_index[key].add(identity_id)

    # --- lookups -------------------------------------------------------------------------

    def survivor(self, user_id: uuid.UUID) -> uuid.UUID:
        while user_id in self.merged_away:
            user_id = self.merged_away[user_id]
        user = self.users.get(user_id)
        while user is not None and user.status == "merged" and user.merged_into is not None:
            user_id = user.merged_into
            user = self.users.get(user_id)
        return user_id

    def is_live(self, user_id: uuid.UUID) -> bool:
        """A user records can still link to (loaded, neither merged away nor erased)."""
        user = self.users.get(user_id)
        return user is not None and user.status in LIVE_STATUSES

    def kept_apart(self, a: uuid.UUID, b: uuid.UUID) -> bool:
        low, high = sorted((a, b))
        return (low, high) in self.rejected

    def candidate_users(self, keys: list[HashedKey], exclude: uuid.UUID | None) -> set[uuid.UUID]:
        found: set[uuid.UUID] = set()
        for key in keys:
            for identity_id in self.key_index.get(key, ()):
                identity = self.identities.get(identity_id)
                if identity is None or identity.user_id is None:
                    continue
                user_id = self.survivor(identity.user_id)
                if user_id != exclude and self.is_live(user_id):
                    found.add(user_id)
        return found

    def queued_pairs(self) -> dict[uuid.UUID, set[uuid.UUID]]:
        """Each user (as it survives now) → the users an open review item pairs it with."""
        queued: dict[uuid.UUID, set[uuid.UUID]] = {}
        for pair in self.open_pairs:
            a, b = (self.survivor(u) for u in pair)
            if a != b:
                queued.setdefault(a, set()).add(b)
                queued.setdefault(b, set()).add(a)
        return queued

    def member_rows(self, user_id: uuid.UUID) -> list[IdentityRow]:
        return [
            self.identities[i]
            for i in sorted(self.members.get(user_id, ()))
            if self.identities[i].erased_as_of is None
        ]

    # --- changes -------------------------------------------------------------------------

    def touch_identity(self, row: IdentityRow) -> None:
        if row.id not in self.new_identities:
            self.dirty_identities.add(row.id)

    def touch_user(self, user_id: uuid.UUID) -> None:
        if user_id not in self.new_users:
            self.dirty_users.add(user_id)
        self.resurvive.add(user_id)

    def create_user(self) -> UserRow:
        user = UserRow(new_id(), "active", None, 1, self.now)
        self.users[user.id] = user
        self.new_users.add(user.id)
        self.resurvive.add(user.id)
        return user

    def attach(self, row: IdentityRow, user_id: uuid.UUID) -> None:
        if row.user_id is not None:
            self.members[row.user_id].discard(row.id)
            self.touch_user(row.user_id)
        row.user_id = user_id
        self.members[user_id].add(row.id)
        self.touch_identity(row)
        self.touch_user(user_id)

    def erase_identity(self, row: IdentityRow, as_of: datetime) -> uuid.UUID | None:
        """Detach an identity and drop everything it said; signals about it from before
        `as_of` stay ignored. Returns the user it left, if any."""
        left = self.survivor(row.user_id) if row.user_id is not None else None
        if left is not None:
            self.erased_from[row.id] = left
        self.detach(row)
        row.raw, row.record, row.issues, row.times = {}, None, [], {}
        row.erased_as_of = max(as_of, row.erased_as_of or as_of)
        self.erased_identities.add(row.id)
        self.normalized.pop(row.id, None)
        return left

    def detach(self, row: IdentityRow) -> None:
        if row.user_id is not None:
            self.members[row.user_id].discard(row.id)
            self.touch_user(row.user_id)
        row.user_id = None
        self.touch_identity(row)
