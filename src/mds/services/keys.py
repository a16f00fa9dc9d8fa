"""Key management use cases: bootstrap the keyring, rotate data keys and key-encryption keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.security.envelope import generate_key
from mds.security.keyring import Keyring
from mds.security.providers import KeyProvider, WrappedKey
from mds.store import keys as key_store

SessionFactory = Callable[[], Session]
# Serializes key creation across replicas that start together on an empty database.
KEY_BOOTSTRAP_LOCK = 0x4D44_535F_4B45_5953


@dataclass(frozen=True)
class RotationResult:
    new_key_id: uuid.UUID
    previous_key_id: uuid.UUID | None


def _unwrap(provider: KeyProvider, stored: key_store.StoredKey) -> bytes:
    assert stored.wrapped_key is not None, f"key {stored.id} was destroyed"
    return provider.unwrap(WrappedKey(stored.kek_id, stored.wrapped_key))


def _add(session: Session, provider: KeyProvider, purpose: str) -> uuid.UUID:
    wrapped = provider.wrap(generate_key())
    return key_store.add_key(session, purpose, "primary", wrapped.kek_id, wrapped.blob)


def _primary(keys: list[key_store.StoredKey], purpose: str) -> key_store.StoredKey | None:
    return next((k for k in keys if k.purpose == purpose and k.state == "primary"), None)


def load_keyring(sessions: SessionFactory, provider: KeyProvider) -> Keyring:
    """Unwrap every live key; create the first data and blind-index keys if there are none."""
    with sessions() as session, session.begin():
        keys = key_store.all_keys(session)
        if _primary(keys, "data") is None or _primary(keys, "blind_index") is None:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_BOOTSTRAP_LOCK})
            keys = key_store.all_keys(session)
            for purpose in ("data", "blind_index"):
                if _primary(keys, purpose) is None:
                    _add(session, provider, purpose)
            keys = key_store.all_keys(session)

    data_primary = _primary(keys, "data")
    blind_primary = _primary(keys, "blind_index")
    assert data_primary is not None and blind_primary is not None
    data_keys = {
        k.id: _unwrap(provider, k)
        for k in keys
        if k.purpose == "data" and k.wrapped_key is not None
    }

    def load_missing(key_id: uuid.UUID) -> bytes | None:
        with sessions() as session:
            stored = key_store.get_key(session, key_id)
        if stored is None or stored.purpose != "data" or stored.wrapped_key is None:
            return None
        return _unwrap(provider, stored)

    return Keyring(
        data_keys, data_primary.id, _unwrap(provider, blind_primary), load_missing=load_missing
    )


def rotate_data_key(sessions: SessionFactory, provider: KeyProvider) -> RotationResult:
    """Make a new primary data key. Old keys stay active: existing ciphertexts keep decrypting."""
    with sessions() as session, session.begin():
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_BOOTSTRAP_LOCK})
        previous = _primary(key_store.all_keys(session), "data")
        key_store.demote_primary(session, "data")
        new_id = _add(session, provider, "data")
    return RotationResult(new_id, previous.id if previous else None)


def rewrap_all(sessions: SessionFactory, provider: KeyProvider) -> int:
    """Re-wrap every data key under the provider's primary KEK; return how many changed."""
    changed = 0
    with sessions() as session, session.begin():
        for stored in key_store.all_keys(session):
            if stored.wrapped_key is None or stored.kek_id == provider.primary_kek_id:
                continue
            wrapped = provider.wrap(_unwrap(provider, stored))
            key_store.rewrap(session, stored.id, wrapped.kek_id, wrapped.blob)
            changed += 1
    return changed
