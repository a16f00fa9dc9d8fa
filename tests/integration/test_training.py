import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.training import train_model
from mds.store import match_keys, match_models
from mds.store.models import MatchModel, SourceIdentity
from tests.integration.ingest_helpers import ANA, service, signal


def test_training_needs_candidate_pairs(sessions: sessionmaker[Session], keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="no comparison vectors"):
        train_model(sessions, keyring, dry_run=True)


def test_training_stores_a_new_active_version_used_by_later_decisions(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    people = [
        {**ANA},
        {**ANA, "given_name": "Anna", "email": "ana.g@example.com"},
        {"given_name": "Luis", "family_name": "García", "date_of_birth": "1990-04-01"},
        {"given_name": "Luis", "family_name": "Garcia", "phone": "+34 699 000 111"},
        {"given_name": "Eva", "family_name": "García", "date_of_birth": "1991-05-02"},
    ]
    ingest.ingest([signal(f"C-{n}", **attrs) for n, attrs in enumerate(people)])

    report = train_model(sessions, keyring, min_linked_pairs=1)
    assert report.version == 1
    assert report.result.pairs > 0
    with sessions() as session:
        active = match_models.active(session)
        stored = session.scalars(select(MatchModel)).one()
    assert active.version == 1 and stored.is_active
    assert "EM on" in (stored.description or "")
    assert active.m["given_name"]["exact"] != pytest.approx(0.86, abs=1e-9)

    second = train_model(sessions, keyring, activate=False, min_linked_pairs=1)
    with sessions() as session:
        assert match_models.active(session).version == 1
    assert second.version == 2


def test_training_samples_thousands_of_shared_keys(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # A store of any size shares more keys than the sample takes; the sample must not travel
    # back to the database as one list of values (15k of them overflowed PostgreSQL's stack).
    ingest = service(sessions, keyring)
    ingest.ingest([signal("C-1", **ANA), signal("C-2", **{**ANA, "email": "ana@example.org"})])
    with sessions() as session, session.begin():
        held = session.execute(select(SourceIdentity.id, SourceIdentity.user_id)).all()
        shared = [("name_dob", n.to_bytes(32, "big")) for n in range(20_000)]
        match_keys.replace_keys(session, [(i, u, shared) for i, u in held])

    report = train_model(sessions, keyring, dry_run=True, sample_keys=20_000, min_linked_pairs=1)
    assert report.result.pairs == 1  # one pair of identities, however many keys they share


def test_training_refuses_a_store_without_linked_identities(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # Two people who share a surname and address, each their own user: every candidate pair is
    # a non-match, and EM would take what they share for what a match looks like.
    ingest = service(sessions, keyring)
    home = {"family_name": "García", "phone": "+34 612 345 678"}
    ingest.ingest(
        [
            signal("C-1", given_name="Ana", date_of_birth="1990-04-01", **home),
            signal("C-2", given_name="Luis", date_of_birth="1962-11-30", **home),
        ]
    )
    with pytest.raises(ValueError, match="0 of 1 candidate pairs are identities of one user"):
        train_model(sessions, keyring, dry_run=True)
