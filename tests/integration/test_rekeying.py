import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.services.rekeying import RekeyProgress, normalizing, rebuild_match_keys
from mds.services.resolution.outcomes import Status
from mds.store import source_identities as identities
from tests.integration.helpers import run_concurrently
from tests.integration.ingest_helpers import ANA, service, signal

PEOPLE = (  # distinct names: a name everyone shares identifies no one
    ("Ana", "Abril"), ("Bruno", "Bermejo"), ("Carla", "Cuesta"), ("Diego", "Duarte"),
    ("Elena", "Espejo"), ("Fabio", "Ferrer"), ("Gema", "Galindo"), ("Hugo", "Herrero"),
    ("Irene", "Iglesias"), ("Jaime", "Jurado"), ("Lara", "Lozano"), ("Mario", "Montero"),
)  # fmt: skip
_IDS = text("SELECT id FROM source_identities")
MADRID = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"}


def _keys(session: Session) -> set[tuple[str, bytes, str, str]]:
    rows = session.execute(
        text("SELECT key_type, key_hash, source_identity_id, user_id FROM match_keys")
    ).all()
    return {(t, bytes(h), str(i), str(u)) for t, h, i, u in rows}


def test_rebuilding_restores_the_keys_an_older_version_did_not_write(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    ingest.ingest([signal("C-1", **ANA, address=MADRID)])
    ingest.ingest([signal("C-2", given_name="Eva", family_name="Ruiz", date_of_birth="1985-02-03")])
    ingest.ingest([signal("C-3", given_name="Luis", family_name="Sanz", email="luis@example.com")])
    with sessions() as session:
        written = _keys(session)
        assert "dob_place" in {t for t, *_ in written}
        # As a store from before the kind of key existed, and one identity with no keys at all.
        session.execute(text("DELETE FROM match_keys WHERE key_type = 'dob_place'"))
        session.execute(
            text(
                "DELETE FROM match_keys WHERE source_identity_id ="
                " (SELECT id FROM source_identities WHERE source_record_id = 'C-2')"
            )
        )
        session.commit()
        left = _keys(session)
        assert left < written

    seen: list[RekeyProgress] = []
    done = rebuild_match_keys(sessions, keyring, chunk=2, on_chunk=seen.append)

    with sessions() as session:
        assert _keys(session) == written
    # Only the missing keys are written: the ones still there are left alone.
    assert done == RekeyProgress(identities=3, keys=len(written - left))
    assert [p.identities for p in seen] == [2, 3]  # two chunks, walked in id order


def _shared_key_types(session: Session, a: str, b: str) -> set[str]:
    rows = session.execute(
        text(
            "SELECT x.key_type FROM match_keys x JOIN match_keys y USING (key_type, key_hash)"
            " JOIN source_identities sx ON sx.id = x.source_identity_id"
            " JOIN source_identities sy ON sy.id = y.source_identity_id"
            " WHERE sx.source_record_id = :a AND sy.source_record_id = :b"
        ),
        {"a": a, "b": b},
    )
    return set(rows.scalars())


def test_an_older_identity_is_reached_through_a_new_kind_of_key_once_rebuilt(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # A mistyped given name, another surname, no street, no identifier: only the birth date and
    # the town are left to block on (FEBRL 3 has such records).
    town = {"postal_code": "28013", "locality": "Madrid"}
    original = {"given_name": "Samantha", "family_name": "Drechsler", "date_of_birth": "1933-04-22"}
    mistyped = {"given_name": "Samatnha", "family_name": "Noble", "date_of_birth": "1933-04-22"}
    ingest = service(sessions, keyring)
    ingest.ingest([signal("C-1", **original, address=town)])
    with sessions() as session:
        session.execute(text("DELETE FROM match_keys WHERE key_type = 'dob_place'"))
        session.commit()
    [unreached] = ingest.ingest([signal("C-2", **mistyped, address=town)])
    assert unreached.status is Status.CREATED and unreached.score is None  # no candidate at all
    with sessions() as session:
        assert _shared_key_types(session, "C-1", "C-2") == set()

    rebuild_match_keys(sessions, keyring)
    with sessions() as session:
        assert _shared_key_types(session, "C-1", "C-2") == {"dob_place"}


def test_rebuilding_while_signals_merge_users_leaves_no_key_on_a_stale_user(
    migrated: Engine, tmp_path: Path
) -> None:
    """Merges move identities (and rewrite their keys) while chunks are rekeyed: every key
    must end on its identity's current user, as a rebuild on a quiet store writes them."""
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    ingest = service(sessions, keyring)
    done = threading.Event()

    def merge_people() -> None:
        try:
            for n, (given, family) in enumerate(PEOPLE):
                name = {"given_name": given, "family_name": family}
                email, phone = f"{given.lower()}{n}@example.com", f"6123450{n:02d}"
                # A phone is shared by a household: the birth date says whose it is.
                known = {"phone": phone, "date_of_birth": f"1980-01-{n + 1:02d}"}
                ingest.ingest([signal(f"C-{n}", **name, email=email)])
                ingest.ingest([signal(f"S-{n}", source="signup", **name, **known)])
                ingest.ingest([signal(f"T-{n}", source="support", **name, email=email, **known)])
        finally:
            done.set()

    def rekey() -> None:
        while not done.is_set():
            rebuild_match_keys(sessions, keyring, chunk=3)

    run_concurrently(merge_people, rekey)

    with sessions() as session:
        stale = session.execute(
            text(
                "SELECT count(*) FROM match_keys k JOIN source_identities s"
                " ON s.id = k.source_identity_id WHERE k.user_id IS DISTINCT FROM s.user_id"
            )
        ).scalar_one()
        merged = session.execute(
            text("SELECT count(*) FROM canonical_users WHERE merged_into IS NOT NULL")
        ).scalar_one()
        before = _keys(session)
    assert stale == 0
    assert merged == len(PEOPLE)  # each person's two users were merged by the third signal
    rebuild_match_keys(sessions, keyring)
    with sessions() as session:
        assert _keys(session) == before


def test_renormalizing_compares_what_an_older_normalization_left_out(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    robert = {"given_name": "Robert", "family_name": "Miller"}
    service(sessions, keyring).ingest([signal("C-1", phone="+44 7631 669032", **robert)])
    with sessions() as session:
        # As a version that compared no phone its plan does not list (07631 is a pager range)
        # stored it: no phone in the comparison record, no phone key.
        [row] = identities.load_by_ids(session, keyring, list(session.scalars(_IDS)))
        assert row.record is not None and row.record.phone == "+447631669032"
        row.record = replace(row.record, phone=None)
        identities.update_records(session, keyring, [row])
        session.execute(text("DELETE FROM match_keys WHERE key_type = 'phone'"))
        session.commit()

    # The keys alone are made from the stored record: the phone stays out.
    assert rebuild_match_keys(sessions, keyring).keys == 0
    normalize = normalizing("ES", date(2026, 11, 25))
    done = rebuild_match_keys(sessions, keyring, normalize=normalize)

    assert (done.records, done.keys) == (1, 1)
    with sessions() as session:
        [row] = identities.load_by_ids(session, keyring, list(session.scalars(_IDS)))
        assert row.record is not None and row.record.phone == "+447631669032"
        assert [i["code"] for i in row.issues] == ["invalid_phone"]
        assert "phone" in {t for t, *_ in _keys(session)}
    # Nothing left to change.
    assert rebuild_match_keys(sessions, keyring, normalize=normalize) == RekeyProgress(1, 0, 0)
