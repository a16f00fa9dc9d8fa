import json
import os
import stat
import threading
from pathlib import Path

import pytest

from mds.security.envelope import generate_key
from mds.security.errors import DecryptionError, KeyFileError
from mds.security.providers import LocalKeyFileProvider, WrappedKey


def test_first_use_creates_a_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek.json"
    provider = LocalKeyFileProvider(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert provider.primary_kek_id in path.read_text()


def test_wrap_unwrap_round_trip_and_reuse_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    data_key = generate_key()
    wrapped = LocalKeyFileProvider(path).wrap(data_key)
    assert data_key not in wrapped.blob
    assert LocalKeyFileProvider(path).unwrap(wrapped) == data_key


def test_concurrent_first_use_agrees_on_one_kek(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        ids.append(LocalKeyFileProvider(path).primary_kek_id)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["kek.json"]


def test_new_kek_becomes_primary_and_old_wrappings_still_unwrap(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "kek.json")
    data_key = generate_key()
    old = provider.wrap(data_key)
    new_kek = provider.add_kek()
    assert provider.primary_kek_id == new_kek != old.kek_id
    assert provider.wrap(data_key).kek_id == new_kek
    reopened = LocalKeyFileProvider(tmp_path / "kek.json")
    assert reopened.unwrap(old) == data_key
    assert reopened.primary_kek_id == new_kek


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    LocalKeyFileProvider(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        LocalKeyFileProvider(path)


def test_malformed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    path.write_text(json.dumps({"primary": "a", "keys": [{"id": "a", "key": "c2hvcnQ="}]}))
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="malformed"):
        LocalKeyFileProvider(path)


def test_unknown_kek_and_tampered_wrapping_are_errors(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "kek.json")
    wrapped = provider.wrap(generate_key())
    with pytest.raises(KeyFileError, match="no key-encryption key"):
        provider.unwrap(WrappedKey("local-missing", wrapped.blob))
    with pytest.raises(DecryptionError):
        provider.unwrap(WrappedKey(wrapped.kek_id, bytes(len(wrapped.blob))))
