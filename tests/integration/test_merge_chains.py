import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mds.domain.ids import new_id
from mds.store import users
from mds.store.users import UserRow

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def chain(session: Session, length: int) -> list[uuid.UUID]:
    """`length` users, each merged into the one before it; the first is live."""
    ids = [new_id() for _ in range(length)]
    rows = [UserRow(ids[0], "active", None, 1, NOW)]
    rows += [UserRow(u, "merged", ids[i], 1, NOW) for i, u in enumerate(ids[1:])]
    users.insert_users(session, rows)
    return ids


def test_survivors_follow_every_hop_in_one_query(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        live, middle, last = chain(session, 3)
        [loner] = chain(session, 1)
        found = users.survivors(session, [last, middle, live, loner])
    assert found == {last: live, middle: live}, "only merged ids are listed"


def test_a_merge_cycle_is_an_error_not_a_loop(sessions: sessionmaker[Session]) -> None:
    first, second = new_id(), new_id()
    with sessions() as session, session.begin():
        users.insert_users(
            session,
            [UserRow(first, "merged", second, 1, NOW), UserRow(second, "merged", first, 1, NOW)],
        )
        with pytest.raises(RuntimeError, match="longer than 64"):
            users.survivors(session, [first])
