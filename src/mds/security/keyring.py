"""The in-memory keyring: unwrapped data keys, the primary one, and the blind-index key."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from mds.security.envelope import CellContext, key_id_of, open_sealed, seal
from mds.security.errors import UnknownKeyError

KeyLoader = Callable[[UUID], bytes | None]
_INDEX_CACHE_SIZE = 200_000


class Keyring:
    """Encrypts with the primary data key; decrypts with whichever key a ciphertext names.

    A ciphertext written by another process after a rotation names a key this process has not
    seen yet; `load_missing` fetches it (from the database, unwrapped by the key provider).
    """

    def __init__(
        self,
        data_keys: Mapping[UUID, bytes],
        primary_key_id: UUID,
        blind_index_key: bytes,
        load_missing: KeyLoader | None = None,
    ) -> None:
        if primary_key_id not in data_keys:
            raise UnknownKeyError(f"primary data key {primary_key_id} is not in the keyring")
        self._keys = dict(data_keys)
        self._primary = primary_key_id
        self._blind_index_key = blind_index_key
        self._load_missing = load_missing
        self._index_cache: dict[tuple[str, str], bytes] = {}

    @property
    def primary_key_id(self) -> UUID:
        return self._primary

    def encrypt(self, plaintext: bytes, cell: CellContext) -> bytes:
        return seal(self._primary, self._keys[self._primary], plaintext, cell)

    def decrypt(self, blob: bytes, cell: CellContext) -> bytes:
        return open_sealed(self._key(key_id_of(blob)), blob, cell)

    def encrypt_text(self, value: str | None, cell: CellContext) -> bytes | None:
        return None if value is None else self.encrypt(value.encode(), cell)

    def decrypt_text(self, blob: bytes | None, cell: CellContext) -> str | None:
        return None if blob is None else self.decrypt(blob, cell).decode()

    def encrypt_json(self, value: Any, cell: CellContext) -> bytes | None:
        if value is None:
            return None
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True).encode(), cell)

    def decrypt_json(self, blob: bytes | None, cell: CellContext) -> Any:
        # Decoded here: json.loads on bytes first sniffs their encoding, a cost on every cell.
        return None if blob is None else json.loads(self.decrypt(blob, cell).decode())

    def blind_index(self, kind: str, normalized_value: str) -> bytes:
        """HMAC-SHA256 of a normalized value, domain-separated by what kind of value it is."""
        cached = self._index_cache.get((kind, normalized_value))
        if cached is not None:
            return cached
        message = kind.encode() + b"\x1f" + normalized_value.encode()
        digest = hmac.new(self._blind_index_key, message, hashlib.sha256).digest()
        if len(self._index_cache) >= _INDEX_CACHE_SIZE:
            self._index_cache.clear()  # crude but bounded; hot keys refill within a batch
        self._index_cache[(kind, normalized_value)] = digest
        return digest

    def _key(self, key_id: UUID) -> bytes:
        key = self._keys.get(key_id)
        if key is None and self._load_missing is not None:
            key = self._load_missing(key_id)
            if key is not None:
                self._keys[key_id] = key
        if key is None:
            raise UnknownKeyError(f"ciphertext uses data key {key_id}, which the keyring lacks")
        return key
