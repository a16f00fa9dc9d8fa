"""Namesakes in one household: a record that gives no birth date joins one, never merges the two."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
from mds.store.models import CanonicalUser, PotentialDuplicate
from tests.integration.helpers import identities_with_key
from tests.integration.ingest_helpers import service, signal

HOME = {"line1": "Calle Alcalá 45", "postal_code": "08046", "locality": "Barcelona"}
NURIA = {"given_name": "Nuria", "family_name": "López", "phone": "+34631355756", "address": HOME}


def _live_users(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(CanonicalUser.id).where(CanonicalUser.merged_into.is_(None))))


def test_a_record_without_a_birth_date_does_not_merge_two_namesakes_of_one_household(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # A store that has counted enough identities to know Nuria is a rare given name.
    with sessions() as session, session.begin():
        identities_with_key(session, keyring, ("given_name", b"someone else"), 1_000)
    ingest = service(sessions, keyring)
    [mother] = ingest.ingest([signal("C-1", date_of_birth="1959-12-23", **NURIA)])
    [daughter] = ingest.ingest([signal("C-2", date_of_birth="1988-11-16", **NURIA)])
    assert daughter.status is Status.REVIEW and daughter.user_id != mother.user_id

    # The same name, phone and address, nothing else: one of the two, whichever it is.
    [bridge] = ingest.ingest([signal("S-1", source="support", **NURIA)])

    assert bridge.status is Status.LINKED  # the rare name in one household links it
    assert bridge.user_id in {mother.user_id, daughter.user_id}
    with sessions() as session:
        assert {mother.user_id, daughter.user_id} <= _live_users(session)
        reasons = [
            item.explanation["reasons"]
            for item in session.scalars(select(PotentialDuplicate))
            if {item.user_a, item.user_b} == {mother.user_id, daughter.user_id}
            and item.status == "open"
        ]
    assert ["birth dates differ"] in reasons
