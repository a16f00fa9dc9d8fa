"""AES-256-GCM field encryption: each ciphertext names its data key and is bound to its cell.

Wire format (version 1)::

    0x01 | data key id (16 bytes, UUID) | nonce (12 bytes) | ciphertext || GCM tag (16 bytes)

The associated data binds a ciphertext to (table, column, row id), so a value copied into another
row or column fails authentication instead of decrypting to someone else's data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mds.security.errors import DecryptionError

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID_BYTES = 16
_HEADER_BYTES = 1 + _KEY_ID_BYTES + NONCE_BYTES
_TAG_BYTES = 16


@dataclass(frozen=True, slots=True)
class CellContext:
    """Where a ciphertext lives; becomes the GCM associated data."""

    table: str
    column: str
    row_id: str

    def associated_data(self) -> bytes:
        # Unit separators cannot occur in our table/column names or in UUID row ids.
        return f"mds/v{FORMAT_VERSION}\x1f{self.table}\x1f{self.column}\x1f{self.row_id}".encode()


@lru_cache(maxsize=64)
def _cipher(key: bytes) -> AESGCM:
    # Building the cipher context costs as much as sealing a short value; keys are few.
    return AESGCM(key)


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key_id: UUID, key: bytes, plaintext: bytes, cell: CellContext) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    body = _cipher(key).encrypt(nonce, plaintext, cell.associated_data())
    return bytes([FORMAT_VERSION]) + key_id.bytes + nonce + body


def key_id_of(blob: bytes) -> UUID:
    if len(blob) < _HEADER_BYTES + _TAG_BYTES or blob[0] != FORMAT_VERSION:
        raise DecryptionError("not an MDS ciphertext (bad length or format version)")
    return UUID(bytes=blob[1 : 1 + _KEY_ID_BYTES])


def open_sealed(key: bytes, blob: bytes, cell: CellContext) -> bytes:
    key_id_of(blob)  # validates the header
    nonce = blob[1 + _KEY_ID_BYTES : _HEADER_BYTES]
    try:
        return _cipher(key).decrypt(nonce, blob[_HEADER_BYTES:], cell.associated_data())
    except InvalidTag:
        raise DecryptionError(
            f"ciphertext does not authenticate for {cell.table}.{cell.column} row {cell.row_id}"
        ) from None
