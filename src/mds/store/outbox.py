"""The transactional outbox: one row per user event, written in the change's transaction.

Rows follow the Debezium Outbox Event Router layout (id, aggregatetype, aggregateid, type,
payload). The golden record inside an event is PII, so at rest it is a ciphertext
(`profile_enc`, bound to the event id); `render` gives the event as consumers receive it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import cast, delete, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from mds.domain.events import UserEvent
from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store import driver
from mds.store.bulk import any_bound, copy_rows, rows_changed
from mds.store.models import Outbox, table_of

AGGREGATE_TYPE = "user"
# Rows written for Debezium (mds.streaming.debezium routes only these to the user topic).
DEBEZIUM_AGGREGATE_TYPE = "user.debezium"
# What an erased event carries in place of its profile.
_ERASED = cast({"profile": None, "profile_erased": True}, JSONB)


def _cell(event_id: uuid.UUID | str) -> CellContext:
    return CellContext("outbox", "payload.profile", str(event_id))


def _payload(event: UserEvent) -> dict[str, Any]:
    return {
        "event_id": str(event.id),
        "type": str(event.type),
        "user_id": str(event.user_id),
        "version": event.version,
        "occurred_at": event.occurred_at.isoformat(),
        "changed": list(event.changed),
        **event.related,
    }


def add_events(
    session: Session, keyring: Keyring, events: Sequence[UserEvent], *, for_debezium: bool = False
) -> None:
    if not events:
        return
    if for_debezium:
        _add_for_debezium(session, events)
        return
    rows = []
    for event in events:
        sealed = keyring.encrypt_json(event.profile, _cell(event.id))
        assert sealed is not None
        rows.append(
            {
                "id": event.id,
                "aggregatetype": AGGREGATE_TYPE,
                "aggregateid": str(event.user_id),
                "type": str(event.type),
                "payload": {**_payload(event), "profile_enc": base64.b64encode(sealed).decode()},
                "headers": {"id": str(event.id), "type": str(event.type)},
            }
        )
    copy_rows(session, table_of(Outbox), rows)


def _add_for_debezium(session: Session, events: Sequence[UserEvent]) -> None:
    """Debezium mode: the event as published (profile in clear) goes to the WAL only; the row
    is deleted in the same transaction, so no plaintext is left in the table after commit."""
    rows = [
        {
            "id": event.id,
            "aggregatetype": DEBEZIUM_AGGREGATE_TYPE,
            "aggregateid": str(event.user_id),
            "type": str(event.type),
            "payload": {**_payload(event), "profile": event.profile},
            "headers": {"id": str(event.id), "type": str(event.type)},
        }
        for event in events
    ]
    copy_rows(session, table_of(Outbox), rows)
    driver.execute(session, _DELETE_EVENTS, {"ids": [e.id for e in events]})


_DELETE_EVENTS = driver.compiled(delete(Outbox).where(any_bound(Outbox.id, "ids")))


def render(payload: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The event as published: the profile decrypted in place of its ciphertext."""
    event = {k: v for k, v in payload.items() if k not in {"profile_enc", "profile_erased"}}
    if "profile_enc" not in payload:
        event["profile"] = None  # the user was erased after this event was written
        return event
    sealed = base64.b64decode(payload["profile_enc"])
    event["profile"] = keyring.decrypt_json(sealed, _cell(payload["event_id"]))
    return event


def forget_profiles(session: Session, user_ids: Sequence[uuid.UUID]) -> int:
    """Erasure: strip the sealed profile from the users' events not yet pruned."""
    if not user_ids:
        return 0
    result = session.execute(
        update(Outbox)
        .where(
            Outbox.aggregateid.in_([str(u) for u in user_ids]),
            Outbox.payload.has_key("profile_enc"),
        )
        .values(payload=Outbox.payload.op("-")("profile_enc").op("||")(_ERASED))
    )
    return rows_changed(result)
