import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mds.security.envelope import CellContext, generate_key, key_id_of
from mds.security.errors import DecryptionError, UnknownKeyError
from mds.security.keyring import Keyring

CELL = CellContext("canonical_profiles", "given_name_enc", str(uuid.uuid4()))


def make_keyring(**kwargs: object) -> tuple[Keyring, uuid.UUID]:
    key_id = uuid.uuid4()
    return Keyring({key_id: generate_key()}, key_id, generate_key(), **kwargs), key_id  # type: ignore[arg-type]


def test_primary_must_be_held() -> None:
    with pytest.raises(UnknownKeyError):
        Keyring({uuid.uuid4(): generate_key()}, uuid.uuid4(), generate_key())


@given(st.text(max_size=200))
def test_text_round_trip(value: str) -> None:
    keyring, _ = make_keyring()
    assert keyring.decrypt_text(keyring.encrypt_text(value, CELL), CELL) == value


def test_json_round_trip_and_none_stays_none() -> None:
    keyring, _ = make_keyring()
    address = {"line1": "Calle Mayor 5", "locality": "Madrid", "country": "ES"}
    assert keyring.decrypt_json(keyring.encrypt_json(address, CELL), CELL) == address
    assert keyring.encrypt_json(None, CELL) is None
    assert keyring.decrypt_json(None, CELL) is None


def test_rotation_old_ciphertexts_decrypt_and_new_writes_use_new_key() -> None:
    old_id, new_id = uuid.uuid4(), uuid.uuid4()
    old_key, new_key, bi_key = generate_key(), generate_key(), generate_key()
    before = Keyring({old_id: old_key}, old_id, bi_key)
    old_blob = before.encrypt(b"written before rotation", CELL)

    after = Keyring({old_id: old_key, new_id: new_key}, new_id, bi_key)
    assert after.decrypt(old_blob, CELL) == b"written before rotation"
    assert key_id_of(after.encrypt(b"new", CELL)) == new_id


def test_unknown_key_is_fetched_once_then_cached() -> None:
    key_id, key = uuid.uuid4(), generate_key()
    blob = Keyring({key_id: key}, key_id, generate_key()).encrypt(b"x", CELL)
    calls: list[uuid.UUID] = []

    def load(wanted: uuid.UUID) -> bytes | None:
        calls.append(wanted)
        return key if wanted == key_id else None

    reader, _ = make_keyring(load_missing=load)
    assert reader.decrypt(blob, CELL) == b"x"
    assert reader.decrypt(blob, CELL) == b"x"
    assert calls == [key_id]


def test_key_nobody_has_is_an_error() -> None:
    writer, _ = make_keyring()
    reader, _ = make_keyring(load_missing=lambda _id: None)
    with pytest.raises(UnknownKeyError):
        reader.decrypt(writer.encrypt(b"x", CELL), CELL)


def test_aad_mismatch_is_rejected_through_the_keyring() -> None:
    keyring, _ = make_keyring()
    blob = keyring.encrypt(b"x", CELL)
    with pytest.raises(DecryptionError):
        keyring.decrypt(blob, CellContext(CELL.table, CELL.column, str(uuid.uuid4())))


def test_blind_index_is_deterministic_keyed_and_domain_separated() -> None:
    keyring, _ = make_keyring()
    other, _ = make_keyring()
    email = keyring.blind_index("email", "ana@example.com")
    assert email == keyring.blind_index("email", "ana@example.com")
    assert len(email) == 32
    assert email != keyring.blind_index("email", "ana@example.org")
    assert email != keyring.blind_index("phone", "ana@example.com")
    assert email != other.blind_index("email", "ana@example.com")
