"""How common a name is, as a batch sees it: the store's identities and all the batch brings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
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
