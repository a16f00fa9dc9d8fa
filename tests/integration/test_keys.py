import shutil
import threading
import uuid
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from mds.domain.profile import Profile
from mds.security.envelope import key_id_of
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring, rewrap_all, rotate_data_key
from mds.store import migrate, users
from mds.store.keys import all_keys
from mds.store.models import CanonicalProfile
from tests.integration.helpers import settings_for


def test_first_load_creates_one_data_key_and_one_blind_index_key(
    sessions: sessionmaker[Session], key_provider: LocalKeyFileProvider
) -> None:
    load_keyring(sessions, key_provider)
    load_keyring(sessions, key_provider)
    with sessions() as session:
        keys = all_keys(session)
    assert sorted((k.purpose, k.state) for k in keys) == [
        ("blind_index", "primary"),
        ("data", "primary"),
    ]
    assert all(k.kek_id == key_provider.primary_kek_id for k in keys)


def test_rotation_keeps_old_rows_readable_and_writes_with_the_new_key(
    sessions: sessionmaker[Session], key_provider: LocalKeyFileProvider
) -> None:
    before = load_keyring(sessions, key_provider)
    with sessions() as session, session.begin():
        old_user = users.create_user(session, before, Profile(given_name="Ana", email="ana@x.es"))

    result = rotate_data_key(sessions, key_provider)
    assert result.previous_key_id == before.primary_key_id
    after = load_keyring(sessions, key_provider)
    assert after.primary_key_id == result.new_key_id != before.primary_key_id

    with sessions() as session, session.begin():
        new_user = users.create_user(session, after, Profile(given_name="Bea"))
        old = users.get_user(session, after, old_user)
        assert old is not None and old.profile.email == "ana@x.es"
        rows = {
            row.user_id: row.given_name_enc
            for row in session.scalars(
                select(CanonicalProfile).where(CanonicalProfile.user_id.in_([old_user, new_user]))
            )
        }
    assert key_id_of(rows[old_user]) == before.primary_key_id
    assert key_id_of(rows[new_user]) == result.new_key_id


def test_a_process_still_on_the_old_keyring_reads_rows_written_after_rotation(
    sessions: sessionmaker[Session], key_provider: LocalKeyFileProvider
) -> None:
    stale = load_keyring(sessions, key_provider)
    rotate_data_key(sessions, key_provider)
    fresh = load_keyring(sessions, key_provider)
    with sessions() as session, session.begin():
        user_id = users.create_user(session, fresh, Profile(family_name="García"))
        record = users.get_user(session, stale, user_id)
    assert record is not None and record.profile.family_name == "García"


def test_kek_rotation_rewraps_data_keys_and_data_stays_readable(
    sessions: sessionmaker[Session], key_provider: LocalKeyFileProvider, tmp_path: Path
) -> None:
    # A private copy of the key file: the new KEK must not leak into other tests.
    private_copy = tmp_path / "kek.json"
    shutil.copy2(key_provider.path, private_copy)
    key_provider = LocalKeyFileProvider(private_copy)
    keyring = load_keyring(sessions, key_provider)
    with sessions() as session, session.begin():
        user_id = users.create_user(session, keyring, Profile(phone="+34612345678"))
    with sessions() as session:
        key_count = len(all_keys(session))
    new_kek = key_provider.add_kek()
    assert rewrap_all(sessions, key_provider) == key_count >= 2
    with sessions() as session:
        assert {k.kek_id for k in all_keys(session)} == {new_kek}
    reloaded = load_keyring(sessions, LocalKeyFileProvider(key_provider.path))
    with sessions() as session:
        record = users.get_user(session, reloaded, user_id)
    assert record is not None and record.profile.phone == "+34612345678"


def test_replicas_bootstrapping_together_agree_on_one_primary(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    factory = sessionmaker(fresh_engine)
    provider = LocalKeyFileProvider(tmp_path / "kek.json")
    primaries: list[uuid.UUID] = []
    barrier = threading.Barrier(4)

    def replica() -> None:
        barrier.wait()
        primaries.append(load_keyring(factory, provider).primary_key_id)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(primaries) == 4 and len(set(primaries)) == 1
    with factory() as session:
        assert len(all_keys(session)) == 2
