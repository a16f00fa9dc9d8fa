"""A steward's merge racing with signals about the same users leaves a consistent store:
every identity on an active user, every profile survived from what it holds."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.services.stewardship.operations import Stewardship
from mds.store.models import CanonicalUser, SourceIdentity
from mds.store.users import get_user
from tests.integration.helpers import run_concurrently
from tests.integration.ingest_helpers import ANA, service, signal

BOB = {"given_name": "Roberto", "family_name": "Núñez", "date_of_birth": "1985-07-12"}
ROUNDS = 6
GIVEN = ["Ana", "Lucía", "Carmen", "Elena", "Marta", "Paula"]
FAMILY = ["García", "López", "Martín", "Sánchez", "Romero", "Navarro", "Torres", "Ruiz"]


def _ana(n: int) -> dict[str, object]:
    # A different person each round: other names, birth date, email and phone.
    return {
        **ANA,
        "given_name": GIVEN[n],
        "family_name": FAMILY[n],
        "date_of_birth": f"1990-04-{n + 10}",
        "email": f"ana{n}@example.com",
        "phone": f"+34 612 345 6{n}0",
    }


def _bob(n: int) -> dict[str, object]:
    return {
        **BOB,
        "family_name": FAMILY[-1 - n],
        "date_of_birth": f"1985-07-{n + 10}",
        "email": f"bob{n}@example.com",
    }


def test_merges_and_signals_on_the_same_users_serialize(migrated: Engine, tmp_path: Path) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    ingest = service(sessions, keyring)
    steward = Stewardship(sessions, keyring, ingest.config)
    pairs = []
    for n in range(ROUNDS):
        [a] = ingest.ingest([signal(f"A-{n}", **_ana(n))])
        [b] = ingest.ingest([signal(f"B-{n}", **_bob(n))])
        assert a.user_id and b.user_id and a.user_id != b.user_id
        pairs.append((n, a.user_id, b.user_id))

    def merging() -> None:
        for _, a, b in pairs:
            steward.merge(a, b, actor="steward", reason="race")

    def signalling() -> None:
        for n, _, _ in pairs:
            ingest.ingest(
                [
                    signal(
                        f"B-{n}",
                        at="2026-11-09T10:00:00Z",
                        **{**_bob(n), "phone": f"+34 600 000 0{n}1"},
                    )
                ]
            )

    run_concurrently(merging, signalling)

    with sessions() as session:
        for n, a, b in pairs:
            merged = session.get(CanonicalUser, b)
            assert merged is not None and merged.status == "merged" and merged.merged_into == a
            owners = set(
                session.scalars(
                    select(SourceIdentity.user_id).where(
                        SourceIdentity.source_record_id.in_([f"A-{n}", f"B-{n}"])
                    )
                )
            )
            assert owners == {a}, f"round {n}: identities on {owners}"
            survivor = get_user(session, keyring, a)
            assert survivor is not None
            # Whatever the order, the survivor holds Roberto's later phone.
            assert survivor.profile.phone == f"+346000000{n}1", f"round {n}"
