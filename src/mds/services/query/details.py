"""A user's linked sources, attribute lineage and history, each read a page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from mds.domain.masking import mask_attributes
from mds.security.keyring import Keyring
from mds.store.models import AttributeLineage, AuditLog, SourceIdentity
from mds.store.source_identities import attributes_cell


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_key: list[Any] | None  # the sort key after which the next page starts


def _page(items: list[dict[str, Any]], keys: list[list[Any]], limit: int) -> Page:
    if len(items) > limit:
        return Page(items[:limit], keys[limit - 1])
    return Page(items, None)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def sources(
    session: Session,
    keyring: Keyring,
    user_id: uuid.UUID,
    *,
    after: list[Any] | None,
    limit: int,
    pii: bool,
) -> Page:
    statement = (
        select(SourceIdentity)
        .where(SourceIdentity.user_id == user_id)
        .order_by(SourceIdentity.id)
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(SourceIdentity.id > uuid.UUID(str(after[0])))
    rows = [row for (row,) in session.execute(statement)]
    decided = last_decisions(session, [(r.source_system, r.source_record_id) for r in rows])
    items, keys = [], []
    for row in rows:
        raw = keyring.decrypt_json(row.attributes_enc, attributes_cell(row.id)) or {}
        items.append(
            {
                "id": str(row.id),
                "source_system": row.source_system,
                "source_record_id": row.source_record_id,
                "link_kind": row.link_kind,
                "match_score": row.match_score,
                "model_version": row.model_version,
                "attributes": raw if pii else mask_attributes(raw),
                "quality_issues": row.quality_issues,
                # Times of values held; an erasure leaves its time on the others.
                "observed": {k: v.get("at") for k, v in row.attribute_times.items() if k in raw},
                "last_decision": decided.get((row.source_system, row.source_record_id)),
                "created_at": _iso(row.created_at),
                "updated_at": _iso(row.updated_at),
            }
        )
        keys.append([str(row.id)])
    return _page(items, keys, limit)


def last_decisions(
    session: Session, records: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest decision the engine made about each source record, from the audit trail:
    what it became, the score, and why (each compared field's level and weight)."""
    if not records:
        return {}
    entity_ids = [f"{system}/{record}" for system, record in records]
    latest = (
        select(func.max(AuditLog.seq))
        .where(
            AuditLog.entity_type == "source_identity",
            AuditLog.entity_id.in_(entity_ids),
            AuditLog.action == "signal.resolved",
            AuditLog.details.has_key("explanation"),
        )
        .group_by(AuditLog.entity_id)
    )
    statement = select(AuditLog.entity_id, AuditLog.occurred_at, AuditLog.details).where(
        AuditLog.entity_type == "source_identity",
        AuditLog.entity_id.in_(entity_ids),
        AuditLog.seq.in_(latest),
    )
    by_entity = dict(zip(entity_ids, records, strict=True))
    return {
        by_entity[entity_id]: {
            "at": _iso(occurred_at),
            "event_id": d.get("event_id"),
            "decision": d.get("decision"),
            "score": d.get("score"),
            "explanation": d["explanation"],
        }
        for entity_id, occurred_at, d in session.execute(statement)
    }


def lineage(session: Session, user_id: uuid.UUID, *, after: list[Any] | None, limit: int) -> Page:
    """Rows per attribute, current first, then what it superseded (newest first)."""
    lin = AttributeLineage
    statement = (
        select(lin, SourceIdentity.source_system, SourceIdentity.source_record_id)
        .outerjoin(SourceIdentity, SourceIdentity.id == lin.source_identity_id)
        .where(lin.user_id == user_id)
        .order_by(lin.attribute, lin.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        attribute, last_id = str(after[0]), int(after[1])
        statement = statement.where(
            or_(lin.attribute > attribute, and_(lin.attribute == attribute, lin.id < last_id))
        )
    items, keys = [], []
    for row, source_system, source_record_id in session.execute(statement):
        items.append(
            {
                "attribute": row.attribute,
                "current": row.is_current,
                "source_identity_id": str(row.source_identity_id)
                if row.source_identity_id
                else None,
                "source_system": source_system,
                "source_record_id": source_record_id,
                "signal_id": row.signal_id,
                "rule": row.rule,
                "value_digest": bytes(row.value_digest).hex()[:16] if row.value_digest else None,
                "observed_at": _iso(row.observed_at),
                "recorded_at": _iso(row.recorded_at),
                "superseded_at": _iso(row.superseded_at),
            }
        )
        keys.append([row.attribute, row.id])
    return _page(items, keys, limit)


def history(session: Session, user_id: uuid.UUID, *, after: list[Any] | None, limit: int) -> Page:
    """The audit trail of one user, oldest first (the trail holds no PII)."""
    statement = (
        select(AuditLog)
        .where(AuditLog.entity_type == "user", AuditLog.entity_id == str(user_id))
        .order_by(AuditLog.seq)
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(AuditLog.seq > int(after[0]))
    items, keys = [], []
    for (row,) in session.execute(statement):
        items.append(
            {
                "seq": row.seq,
                "occurred_at": _iso(row.occurred_at),
                "action": row.action,
                "actor": row.actor,
                "details": row.details,
            }
        )
        keys.append([row.seq])
    return _page(items, keys, limit)
