"""Statements sent in libpq's pipeline mode: rows land as COPY would land them, errors come
back as SQLAlchemy's, and a SQLAlchemy statement is refused inside."""

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mds.store import driver
from mds.store.bulk import copy_rows
from mds.store.models import Outbox, table_of


def outbox_row(n: int) -> dict[str, object]:
    event_id = uuid.uuid4()
    return {
        "id": event_id,
        "aggregatetype": "user",
        "aggregateid": f"user-{n}",
        "type": "user.created",
        "payload": {"n": n, "changed": ["email"], "nested": {"é": None}},
        "headers": {"id": str(event_id)},
    }


def stored(session: Session) -> list[tuple[str, object]]:
    rows = session.execute(select(Outbox.aggregateid, Outbox.payload).order_by(Outbox.aggregateid))
    return [(r.aggregateid, r.payload) for r in rows]


def test_rows_inserted_in_a_pipeline_read_back_as_copied_ones(db_session: Session) -> None:
    rows = [outbox_row(n) for n in range(3)]
    with driver.pipelined(db_session):
        assert driver.is_pipelined(db_session)
        copy_rows(db_session, table_of(Outbox), rows[:2])
        # A read inside waits for what was sent before it.
        [(count,)] = driver.tuples(db_session, "SELECT count(*) FROM outbox")
    assert count == 2
    assert not driver.is_pipelined(db_session)
    copy_rows(db_session, table_of(Outbox), rows[2:])  # by COPY, outside
    assert stored(db_session) == [(r["aggregateid"], r["payload"]) for r in rows]


def test_an_error_in_a_pipeline_is_raised_as_sqlalchemys(db_session: Session) -> None:
    row = outbox_row(0)
    with pytest.raises(IntegrityError, match="duplicate key"), driver.pipelined(db_session):
        copy_rows(db_session, table_of(Outbox), [row])
        copy_rows(db_session, table_of(Outbox), [row])
    assert not driver.is_pipelined(db_session)


def test_a_sqlalchemy_statement_inside_a_pipeline_is_refused(db_session: Session) -> None:
    with (
        pytest.raises(RuntimeError, match=r"SQLAlchemy statement inside driver\.pipelined"),
        driver.pipelined(db_session),
    ):
        db_session.execute(text("SELECT 1"))
