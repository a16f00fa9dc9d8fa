"""Blocking and term-frequency keys of a record, as blind-index hashes."""

from __future__ import annotations

from mds.matching.blocking import blocking_keys
from mds.matching.record import MatchRecord
from mds.security.keyring import Keyring
from mds.store.match_keys import HashedKey

TF_KEY_TYPES = {"given_name": "tf_given", "family_name": "tf_family"}


def hashed_blocking_keys(record: MatchRecord, keyring: Keyring) -> list[HashedKey]:
    return [(kind, keyring.blind_index(kind, value)) for kind, value in blocking_keys(record)]


def identity_keys(
    record: MatchRecord, keyring: Keyring, blocking: list[HashedKey] | None = None
) -> list[HashedKey]:
    """Every key stored for an identity: its blocking keys (`blocking` if already hashed) and its
    names' term-count keys."""
    return (blocking or hashed_blocking_keys(record, keyring)) + hashed_tf_keys(record, keyring)


def hashed_tf_keys(record: MatchRecord, keyring: Keyring) -> list[HashedKey]:
    keys = []
    if record.given:
        keys.append(tf_key("given_name", record.given, keyring))
    if record.family:
        keys.append(tf_key("family_name", record.family, keyring))
    return keys


def crosswise_tf_keys(record: MatchRecord, keyring: Keyring) -> list[HashedKey]:
    """The term-count keys of a record's names in each other's role: names compared crosswise
    (one side swapped) count as common as in their commoner role."""
    if not (record.given and record.family):
        return []
    return [
        tf_key("given_name", record.family, keyring),
        tf_key("family_name", record.given, keyring),
    ]


def tf_key(field: str, value: str, keyring: Keyring) -> HashedKey:
    kind = TF_KEY_TYPES[field]
    return (kind, keyring.blind_index(kind, value))


def source_lock_key(source_system: str, source_record_id: str, keyring: Keyring) -> bytes:
    return keyring.blind_index("source_record", f"{source_system}\x1f{source_record_id}")
