"""The sequencer numbers committed outbox rows in order; pruning keeps what is still needed."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mds.domain.events import UserEvent, UserEventType
from mds.security.keyring import Keyring
from mds.store import outbox
from mds.store.models import Outbox
from mds.streaming.sequencer import prune, sequence
from tests.integration.ingest_helpers import NOW


def _events(n: int) -> list[UserEvent]:
    return [UserEvent(UserEventType.UPDATED, uuid.uuid4(), 2, NOW, {}) for _ in range(n)]


def test_rows_get_positions_in_seq_order_once(db_session: Session, keyring: Keyring) -> None:
    outbox.add_events(db_session, keyring, _events(5))
    assert sequence(db_session) == 5
    assert sequence(db_session) == 0  # numbered rows are not numbered again
    outbox.add_events(db_session, keyring, _events(2))
    assert sequence(db_session, limit=1) == 1
    rows = db_session.execute(select(Outbox.seq, Outbox.position).order_by(Outbox.seq)).all()
    numbered = [p for _, p in rows if p is not None]
    assert len(numbered) == 6 and numbered == sorted(numbered)
    assert rows[-1].position is None  # beyond the limit: next pass


def test_prune_deletes_only_old_published_rows(db_session: Session, keyring: Keyring) -> None:
    outbox.add_events(db_session, keyring, _events(3))
    sequence(db_session)
    ids = list(db_session.scalars(select(Outbox.id).order_by(Outbox.seq)))
    db_session.execute(
        text("UPDATE outbox SET published_at = now() - interval '4 days' WHERE id = :id"),
        {"id": ids[0]},
    )
    db_session.execute(
        text("UPDATE outbox SET published_at = now() WHERE id = :id"), {"id": ids[1]}
    )
    assert prune(db_session, retention_hours=72, published_only=True) == 1
    left = set(db_session.scalars(select(Outbox.id)))
    assert left == {ids[1], ids[2]}  # recent and unpublished rows stay
