"""Messages the ingestion worker dead-lettered: where they were, why, and (encrypted) what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mds.security.envelope import CellContext
from mds.security.keyring import Keyring
from mds.store.models import IngestError


def record(session: Session, keyring: Keyring, poison: Sequence[tuple[Any, str]]) -> None:
    """One row per (topic, partition, offset); a replayed message is not recorded twice."""
    rows = []
    for message, error in poison:
        where = f"{message.topic()}/{message.partition()}/{message.offset()}"
        value = message.value() or b""
        key = message.key()
        rows.append(
            {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                # Keys are bytes: kept readable, and text columns refuse NUL.
                "key": key.decode("utf-8", "replace").replace("\x00", "\ufffd") if key else None,
                "error": error,
                "payload_enc": keyring.encrypt(
                    value, CellContext("ingest_errors", "payload", where)
                )
                if value
                else None,
                "payload_size": len(value),
            }
        )
    if rows:
        session.execute(
            insert(IngestError)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["topic", "partition", "offset"])
        )
