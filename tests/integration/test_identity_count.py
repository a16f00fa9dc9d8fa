"""The store's size that term frequencies are shares of."""

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.security.keyring import Keyring
from mds.store import source_identities


def _add(session: Session, keyring: Keyring, count: int, start: int) -> None:
    for n in range(start, start + count):
        source_identities.add_source_identity(
            session,
            keyring,
            source_system="crm",
            source_record_id=f"C-{n}",
            user_id=None,
            attributes={"given_name": "Ana"},
        )


def test_a_small_store_is_counted_exactly_whatever_its_statistics_say(
    db_session: Session, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(db_session, keyring, 25, 0)
    db_session.execute(text("ANALYZE source_identities"))
    _add(db_session, keyring, 5, 25)  # the statistics still say 25
    assert source_identities.approximate_count(db_session) == 30
    # Above the bound the planner's estimate stands in for the count (a large store).
    monkeypatch.setattr(source_identities, "EXACT_COUNT_BELOW", 20)
    assert source_identities.approximate_count(db_session) == 25
