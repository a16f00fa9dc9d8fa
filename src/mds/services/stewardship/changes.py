"""A steward's change to a few users: locked, loaded into a workspace, survived, persisted.

Locks, in the order ingest takes them: the blocking-key advisory locks of every identity of
the users (so no concurrent batch resolves a signal against them halfway through), then the
user rows themselves (FOR UPDATE, sorted), then a fresh read of their identities.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry
from mds.domain.events import UserEvent
from mds.security.keyring import Keyring
from mds.services.errors import ConflictError, NotFoundError
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.keys import hashed_blocking_keys, source_lock_key
from mds.services.resolution.persist import persist_workspace
from mds.services.resolution.survival import SurvivalResult, survive_users
from mds.services.resolution.workspace import Workspace
from mds.store import audit, lineage, locks, review
from mds.store import source_identities as identities
from mds.store import users as user_store


@dataclass
class Change:
    session: Session
    keyring: Keyring
    config: ResolutionConfig
    actor: str
    ws: Workspace
    audit: list[AuditEntry] = field(default_factory=list)
    # Events that no survivorship makes (a status change leaves the golden record alone).
    events: list[UserEvent] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        session: Session,
        keyring: Keyring,
        config: ResolutionConfig,
        actor: str,
        user_ids: Iterable[uuid.UUID],
    ) -> Change:
        wanted = sorted(set(user_ids))
        digests = []
        for row in identities.load_by_users(session, keyring, wanted):
            digests.append(source_lock_key(row.source_system, row.source_record_id, keyring))
            if row.record is not None:
                digests += [h for _, h in hashed_blocking_keys(row.record, keyring)]
        locks.lock_hashes(session, digests)
        users = user_store.lock_users(session, wanted)
        missing = [u for u in wanted if u not in users]
        if missing:
            raise NotFoundError(f"no user {missing[0]}")
        ws = Workspace(now=config.clock())
        for identity in identities.load_by_users(session, keyring, wanted):
            ws.add_identity(identity)
        for user in users.values():
            ws.add_user(user)
        ws.rejected = review.rejected_pairs(session, wanted)
        return cls(session, keyring, config, actor, ws)

    def require_active(self, user_id: uuid.UUID) -> None:
        user = self.ws.users[user_id]
        if user.status == "merged":
            raise ConflictError(f"user {user_id} is merged into {user.merged_into}")
        if user.status != "active":
            raise ConflictError(f"user {user_id} is {user.status}")

    def finish(self) -> SurvivalResult:
        ws = self.ws
        current = lineage.current(self.session, [u for u in ws.resurvive if u not in ws.new_users])
        survived = survive_users(ws, self.keyring, self.config, current, self.actor)
        survived.events.extend(self.events)
        entries = persist_workspace(
            self.session,
            self.keyring,
            ws,
            survived,
            self.actor,
            debezium=self.config.debezium_outbox,
        )
        audit.append(self.session, entries + self.audit + survived.audit)
        return survived
