"""The review queue: list and read doubtful pairs, and a steward's merge or reject decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry
from mds.security.keyring import Keyring
from mds.services.errors import ConflictError, ForbiddenError, InvalidFieldError, NotFoundError
from mds.services.query.details import Page
from mds.services.stewardship.operations import Stewardship
from mds.services.transactions import in_transaction
from mds.store import audit
from mds.store.models import CanonicalUser, PotentialDuplicate

DECISIONS = ("merge", "reject")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = "open"
    risk: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    reason: str
    actor: str
    may_review: bool  # holds mds:review
    confirm: bool = False
    seen_versions: tuple[int, int] | None = None  # (user_a, user_b) as the steward saw them


def item_dict(row: PotentialDuplicate) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "user_a": str(row.user_a),
        "user_b": str(row.user_b),
        "user_a_version": row.user_a_version,
        "user_b_version": row.user_b_version,
        "score": row.score,
        "risk": row.risk,
        "status": row.status,
        "model_version": row.model_version,
        "explanation": row.explanation,
        "created_at": row.created_at.isoformat(),
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "reason": row.reason,
    }


def list_items(
    session: Session, where: QueueFilter, *, after: list[Any] | None, limit: int
) -> Page:
    t = PotentialDuplicate
    statement = select(t).order_by(t.created_at, t.id).limit(limit + 1)
    conditions = []
    if where.status is not None:
        conditions.append(t.status == where.status)
    if where.risk is not None:
        conditions.append(t.risk == where.risk)
    if where.min_score is not None:
        conditions.append(t.score >= where.min_score)
    if where.max_score is not None:
        conditions.append(t.score <= where.max_score)
    if where.opened_after is not None:
        conditions.append(t.created_at > where.opened_after)
    if where.opened_before is not None:
        conditions.append(t.created_at < where.opened_before)
    if after is not None:
        created, last_id = after
        conditions.append(
            or_(t.created_at > created, and_(t.created_at == created, t.id > last_id))
        )
    rows = list(session.scalars(statement.where(*conditions)))
    items = [item_dict(r) for r in rows]
    keys = [[r.created_at.isoformat(), str(r.id)] for r in rows]
    if len(items) > limit:
        return Page(items[:limit], keys[limit - 1])
    return Page(items, None)


def get_item(session: Session, item_id: uuid.UUID) -> PotentialDuplicate:
    row = session.get(PotentialDuplicate, item_id)
    if row is None:
        raise NotFoundError(f"no review item {item_id}")
    return row


@dataclass
class ReviewQueue:
    sessions: Callable[[], Session]
    keyring: Keyring
    stewardship: Stewardship

    def decide(self, item_id: uuid.UUID, decision: Decision) -> dict[str, Any]:
        return in_transaction(self.sessions, lambda s: self._decide(s, item_id, decision))

    def _decide(self, session: Session, item_id: uuid.UUID, d: Decision) -> dict[str, Any]:
        if d.decision not in DECISIONS:
            raise InvalidFieldError("decision", f"must be one of {', '.join(DECISIONS)}")
        item = session.scalars(
            select(PotentialDuplicate).where(PotentialDuplicate.id == item_id).with_for_update()
        ).one_or_none()
        if item is None:
            raise NotFoundError(f"no review item {item_id}")
        if item.status != "open":
            raise ConflictError(f"review item {item_id} is {item.status}, not open")
        if item.risk == "high":
            if not d.may_review:
                raise ForbiddenError("a high-risk item needs the mds:review scope")
            if not d.confirm:
                raise InvalidFieldError("confirm", "a high-risk item needs confirm: true")
        seen = (item.user_a_version, item.user_b_version)
        if d.seen_versions is not None and d.seen_versions != seen:
            raise ConflictError(f"the item shows versions {seen}, not {d.seen_versions}")
        users = {
            u.id: u
            for u in session.scalars(
                select(CanonicalUser).where(CanonicalUser.id.in_([item.user_a, item.user_b]))
            )
        }
        current = (users[item.user_a].version, users[item.user_b].version)
        stale = current != seen or any(u.status != "active" for u in users.values())
        if stale:
            # Closed for good (committed), and the caller is told: nothing was decided.
            _close(session, item, "stale", "system", "a user changed after the item was opened")
            return {"item": item_dict(item), "stale": True}

        _close(session, item, "merged" if d.decision == "merge" else "rejected", d.actor, d.reason)
        details = {
            "item": str(item.id),
            "decision": d.decision,
            "reason": d.reason,
            "risk": item.risk,
            "score": item.score,
            "confirmed": d.confirm,
            "user_a": str(item.user_a),
            "user_b": str(item.user_b),
            "versions_seen": list(seen),
            "explanation": item.explanation,
        }
        result: dict[str, Any] = {"item": item_dict(item)}
        if d.decision == "merge":
            a, b = users[item.user_a], users[item.user_b]
            survivor, other = (
                (a, b) if (a.created_at, str(a.id)) <= (b.created_at, str(b.id)) else (b, a)
            )
            merged = self.stewardship.merge_in(session, survivor.id, other.id, d.actor, d.reason)
            result["survivor_id"] = str(merged.user_id)
            result["merge_event_id"] = str(merged.merge_event_id)
        entries = [AuditEntry(d.actor, "duplicate.decided", "duplicate", str(item.id), details)]
        entries += [
            AuditEntry(d.actor, f"duplicate.{d.decision}", "user", str(u), {"item": str(item.id)})
            for u in (item.user_a, item.user_b)
        ]
        audit.append(session, entries)
        return result


def _close(
    session: Session, item: PotentialDuplicate, status: str, actor: str, reason: str
) -> None:
    session.execute(
        update(PotentialDuplicate)
        .where(PotentialDuplicate.id == item.id)
        .values(status=status, decided_by=actor, decided_at=func.now(), reason=reason)
    )
    session.refresh(item)
