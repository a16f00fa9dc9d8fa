import subprocess
import uuid
from pathlib import Path

import pytest
from pgserver._commands import POSTGRES_BIN_PATH
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from mds.domain.profile import Profile
from mds.security.errors import DecryptionError
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import match_keys, migrate, source_identities, users
from tests.integration.helpers import settings_for

ANA = Profile(
    given_name="Anastasia",
    family_name="Quintanilla",
    email="anastasia.quintanilla@example.com",
    phone="+34612345678",
    date_of_birth="1990-04-01",
    address={"line1": "Calle Mayor 5", "locality": "Villanueva", "postal_code": "28013"},
    government_id={"type": "national_id", "country": "ES", "value": "12345678Z"},
    locale="es-ES",
    preferences={"newsletter": True},
)
PLAINTEXTS = [
    "Anastasia",
    "Quintanilla",
    "anastasia.quintanilla@example.com",
    "612345678",
    "1990-04-01",
    "Calle Mayor",
    "Villanueva",
    "12345678Z",
]


def _store_ana(sessions: sessionmaker[Session], keyring: Keyring) -> uuid.UUID:
    with sessions() as session, session.begin():
        user_id = users.create_user(session, keyring, ANA)
        identity = source_identities.add_source_identity(
            session,
            keyring,
            source_system="crm",
            source_record_id="C-1042",
            user_id=user_id,
            attributes=ANA.as_dict(),
        )
        match_keys.add_keys(
            session,
            identity,
            user_id,
            [("email", keyring.blind_index("email", ANA.email or ""))],
        )
    return user_id


def test_pg_dump_of_a_populated_database_shows_no_pii(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    sessions = sessionmaker(fresh_engine)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    user_id = _store_ana(sessions, keyring)

    dump = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--no-owner", fresh_database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(user_id) in dump, "the dump should contain the populated rows"
    assert "es-ES" in dump, "non-PII stays plain"
    leaked = [value for value in PLAINTEXTS if value.lower() in dump.lower()]
    assert leaked == []


def test_blind_index_finds_the_user_without_decrypting(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    user_id = _store_ana(sessions, keyring)
    with sessions() as session:
        found = match_keys.users_with_keys(
            session, [("email", keyring.blind_index("email", "anastasia.quintanilla@example.com"))]
        )
        missing = match_keys.users_with_keys(
            session, [("email", keyring.blind_index("email", "someone.else@example.com"))]
        )
        wrong_kind = match_keys.users_with_keys(
            session, [("phone", keyring.blind_index("email", "anastasia.quintanilla@example.com"))]
        )
    assert found == {user_id}
    assert missing == set()
    assert wrong_kind == set()


def test_ciphertext_copied_into_another_row_does_not_decrypt(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    victim = _store_ana(sessions, keyring)
    with sessions() as session, session.begin():
        attacker = users.create_user(session, keyring, Profile(given_name="Mallory"))
        session.execute(
            text(
                "UPDATE canonical_profiles SET email_enc = "
                "(SELECT email_enc FROM canonical_profiles WHERE user_id = :victim) "
                "WHERE user_id = :attacker"
            ),
            {"victim": victim, "attacker": attacker},
        )
        with pytest.raises(DecryptionError, match="email_enc"):
            users.get_user(session, keyring, attacker)


def test_source_attributes_round_trip_encrypted(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    _store_ana(sessions, keyring)
    with sessions() as session:
        identity_id, raw = session.execute(
            text(
                "SELECT id, attributes_enc FROM source_identities WHERE source_record_id = 'C-1042'"
            )
        ).one()
        assert b"Anastasia" not in raw
        assert source_identities.get_attributes(session, keyring, identity_id) == ANA.as_dict()
