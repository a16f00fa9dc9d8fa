import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mds.security.envelope import CellContext, generate_key, key_id_of, open_sealed, seal
from mds.security.errors import DecryptionError

KEY_ID = uuid.uuid4()
KEY = generate_key()
CELL = CellContext("canonical_profiles", "email_enc", str(uuid.uuid4()))


@given(st.binary(max_size=2048))
def test_round_trip(plaintext: bytes) -> None:
    assert open_sealed(KEY, seal(KEY_ID, KEY, plaintext, CELL), CELL) == plaintext


def test_ciphertext_names_its_key_and_hides_plaintext() -> None:
    blob = seal(KEY_ID, KEY, b"ana@example.com", CELL)
    assert key_id_of(blob) == KEY_ID
    assert b"ana@example.com" not in blob


def test_same_plaintext_encrypts_differently_each_time() -> None:
    assert seal(KEY_ID, KEY, b"same", CELL) != seal(KEY_ID, KEY, b"same", CELL)


@pytest.mark.parametrize(
    "other",
    [
        CellContext("canonical_profiles", "email_enc", str(uuid.uuid4())),  # another row
        CellContext("canonical_profiles", "phone_enc", CELL.row_id),  # another column
        CellContext("source_identities", "email_enc", CELL.row_id),  # another table
    ],
)
def test_ciphertext_moved_to_another_cell_is_rejected(other: CellContext) -> None:
    blob = seal(KEY_ID, KEY, b"secret", CELL)
    with pytest.raises(DecryptionError, match=other.table):
        open_sealed(KEY, blob, other)


def test_tampered_ciphertext_is_rejected() -> None:
    blob = bytearray(seal(KEY_ID, KEY, b"secret", CELL))
    blob[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        open_sealed(KEY, bytes(blob), CELL)


def test_wrong_key_is_rejected() -> None:
    blob = seal(KEY_ID, KEY, b"secret", CELL)
    with pytest.raises(DecryptionError):
        open_sealed(generate_key(), blob, CELL)


@pytest.mark.parametrize("blob", [b"", b"\x01short", b"\x02" + bytes(60)])
def test_garbage_is_not_a_ciphertext(blob: bytes) -> None:
    with pytest.raises(DecryptionError, match="not an MDS ciphertext"):
        key_id_of(blob)
