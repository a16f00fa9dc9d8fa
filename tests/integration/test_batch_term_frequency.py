"""How common a name is, as a batch sees it: the store's identities and all the batch brings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from mds.matching.record import MatchRecord
from mds.matching.term_share import TermShare
from mds.security.keyring import Keyring
from mds.services.resolution.batch import term_frequency
from mds.services.resolution.keys import tf_key
from mds.services.resolution.outcomes import Status
from mds.store import match_keys
from tests.integration.helpers import identities_with_key
from tests.integration.ingest_helpers import service, signal

MARIA = {"given_name": "María", "family_name": "González"}


def test_a_common_name_is_common_to_the_first_signals_of_a_batch_too(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # Two María Gonzálezes born the same day, nothing else alike, first in a batch of forty
    # Marías into an empty store. Counted one by one as the batch was resolved, the name was
    # as rare as one holder in a thousand when the second met the first, and they linked.
    born = "1959-06-11"
    first = signal(
        "C-1", at="2026-11-01T10:00:00Z", date_of_birth=born, email="maria1@example.com",
        phone="+34 656 565 200", address={"line1": "Calle Arenal 55", "locality": "Barcelona"},
        **MARIA,
    )  # fmt: skip
    second = signal(
        "C-2", at="2026-11-01T10:00:01Z", date_of_birth=born, email="maria2@example.com",
        phone="+34 694 408 436", address={"line1": "Calle Segovia 86", "locality": "Valencia"},
        **MARIA,
    )  # fmt: skip
    others = [
        signal(f"C-{n}", at="2026-11-02T10:00:00Z", email=f"m{n}@example.com", **MARIA)
        for n in range(3, 41)
    ]

    outcomes = service(sessions, keyring).ingest([first, second, *others])

    a, b = outcomes[0], outcomes[1]
    assert a.status is Status.CREATED
    assert b.status is not Status.LINKED and b.user_id != a.user_id


def test_a_batch_knows_how_common_its_names_are_in_each_others_role(
    db_session: Session, keyring: Keyring
) -> None:
    # García, María (names swapped) meets María García crosswise: García is then compared as
    # a given name, and counts as common as it is among surnames, even in a batch where no
    # one else carries it as a surname.
    identities_with_key(db_session, keyring, tf_key("family_name", "garcia", keyring), 50)

    frequency, _ = term_frequency(
        db_session,
        keyring,
        [],
        stored=1_000,
        term_counts=lambda session, keys, stored: match_keys.term_counts(session, keys),
        arriving=[MatchRecord(given="garcia", family="maria")],
        caution=0.0,
    )

    surname = frequency("family_name", "garcia")
    assert surname is not None and surname.share == 50 / 1_001
    assert frequency("given_name", "garcia") == TermShare(1 / 1_001, 1 / 1_001)


def test_the_population_is_the_store_as_each_batch_finds_it(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # Term frequencies are counted afresh for each batch; the population they are shares of
    # must be too, or names look rarer and rarer as a bulk load goes on.
    ingest = service(sessions, keyring)
    ingest.ingest([signal(f"C-{n}", given_name=f"Name{n}") for n in range(3)])
    with sessions() as session:
        assert ingest.population(session) == 3
    ingest.ingest([signal(f"D-{n}", given_name=f"Other{n}") for n in range(2)])
    with sessions() as session:
        assert ingest.population(session) == 5


def test_a_bulk_load_sizes_the_match_prior_for_the_store_it_ends_in(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # The same name and birth dates a day apart: enough to link in a store of a thousand, not
    # in one of a million. A load announced to bring a million judges its first pairs as the
    # store it will become would judge them, so arrival order does not decide.
    born = {"given_name": "Ana", "family_name": "García", "date_of_birth": "1990-04-01"}
    small = service(sessions, keyring)
    small.ingest([signal("C-1", **born)])
    [linked] = small.ingest([signal("C-2", **{**born, "date_of_birth": "1990-04-02"})])
    assert linked.status is Status.LINKED

    other = {**born, "given_name": "Eva", "family_name": "Martín"}
    big = service(sessions, keyring)
    big.expect_load(1_000_000)
    big.ingest([signal("D-1", **other)])
    [doubtful] = big.ingest([signal("D-2", **{**other, "date_of_birth": "1990-04-02"})])
    assert doubtful.status is Status.REVIEW
