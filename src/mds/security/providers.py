"""Key-encryption-key providers: they wrap and unwrap data keys and never see PII.

`LocalKeyFileProvider` keeps KEKs in a 0600 JSON file for development and single-host use. A KMS or
Vault provider implements the same two methods and holds the KEK outside this process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import uuid4

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from mds.security.envelope import generate_key
from mds.security.errors import DecryptionError, KeyFileError


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kek_id: str
    blob: bytes


class KeyProvider(Protocol):
    """Wraps data keys under a key-encryption key it controls."""

    @property
    def primary_kek_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey) -> bytes: ...


_FILE_FORMAT = 1


class LocalKeyFileProvider:
    """KEKs in a local JSON file (mode 0600), created on first use.

    AES key wrap (RFC 3394) protects each data key. `add_kek` appends a new primary KEK; old
    KEKs stay so that data keys wrapped under them still unwrap until they are re-wrapped.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._keks, self._primary = self._load_or_create()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def primary_kek_id(self) -> str:
        return self._primary

    def wrap(self, data_key: bytes) -> WrappedKey:
        return WrappedKey(self._primary, aes_key_wrap(self._keks[self._primary], data_key))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        kek = self._keks.get(wrapped.kek_id)
        if kek is None:
            raise KeyFileError(f"key file {self._path} has no key-encryption key {wrapped.kek_id}")
        try:
            return aes_key_unwrap(kek, wrapped.blob)
        except InvalidUnwrap:
            raise DecryptionError(f"data key does not unwrap under KEK {wrapped.kek_id}") from None

    def add_kek(self) -> str:
        """Generate a new primary KEK and persist it beside the old ones."""
        kek_id = _new_kek_id()
        keks = {**self._keks, kek_id: generate_key()}
        _write_atomically(self._path, _encode(keks, kek_id), replace=True)
        self._keks, self._primary = keks, kek_id
        return kek_id

    def _load_or_create(self) -> tuple[dict[str, bytes], str]:
        if not self._path.exists():
            kek_id = _new_kek_id()
            # Several processes may start at once: the first link wins, the others read it.
            _write_atomically(self._path, _encode({kek_id: generate_key()}, kek_id), replace=False)
        return _decode(self._path)


def _new_kek_id() -> str:
    return f"local-{uuid4().hex[:12]}"


def _encode(keks: dict[str, bytes], primary: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    document = {
        "format": _FILE_FORMAT,
        "primary": primary,
        "keys": [
            {"id": kid, "key": base64.b64encode(key).decode(), "created_at": now}
            for kid, key in keks.items()
        ],
    }
    return json.dumps(document, indent=2).encode()


def _decode(path: Path) -> tuple[dict[str, bytes], str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is accessible by group or others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        document = json.loads(path.read_bytes())
        keks = {entry["id"]: base64.b64decode(entry["key"]) for entry in document["keys"]}
        primary = str(document["primary"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is unreadable or malformed: {exc}") from None
    if primary not in keks or any(len(k) != 32 for k in keks.values()):
        raise KeyFileError(f"key file {path} is malformed: bad primary or key length")
    return keks, primary


def _write_atomically(path: Path, content: bytes, *, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".kek-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
        os.close(fd)
        if replace:
            os.replace(tmp_name, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
