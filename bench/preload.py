"""Preloaded stores for the speed benchmarks: generated people written straight through the
repositories as distinct users (no resolution), kept on disk and cloned for later runs."""

from __future__ import annotations

import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import PreloadedStore, Store, open_store
from bench.people import Person, generate
from mds.domain.normalization import normalize_attributes
from mds.domain.profile import Profile
from mds.matching.record import match_record
from mds.services.resolution.keys import hashed_blocking_keys, hashed_tf_keys
from mds.store import match_keys
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.source_identities import IdentityRow
from mds.store.users import UserRow

CHUNK = 5_000


def person_attributes(p: Person) -> dict[str, object]:
    attrs: dict[str, object] = {
        "given_name": p.given,
        "family_name": p.family,
        "date_of_birth": p.dob.isoformat(),
        "email": p.email,
        "phone": p.phone,
        "address": p.address,
    }
    if p.gov_id:
        attrs["government_id"] = {"type": "national_id", "country": "ES", "value": p.gov_id}
    return attrs


def preload(sessions: sessionmaker[Session], keyring: object, people: list[Person]) -> float:
    """Write `people` as distinct users straight through the repositories (no resolution)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    for offset in range(0, len(people), CHUNK):
        users, profiles, rows, keyed = [], [], [], []
        for p in people[offset : offset + CHUNK]:
            raw = person_attributes(p)
            normalized = normalize_attributes(raw, default_region=None, today=date.today())
            record = match_record(normalized)
            user = UserRow(uuid.uuid4(), "active", None, 1, now)
            row = IdentityRow(uuid.uuid4(), "preload", f"P-{p.pid}", user.id, raw, record)
            row.issues = [issue.as_dict() for issue in normalized.issues]
            users.append(user)
            profiles.append((user.id, Profile(**normalized.golden_values())))
            rows.append(row)
            keys = hashed_blocking_keys(record, keyring) + hashed_tf_keys(record, keyring)  # type: ignore[arg-type]
            keyed.append((row.id, user.id, keys))
        with sessions() as session, session.begin():
            user_store.insert_users(session, users)
            user_store.upsert_profiles(session, keyring, profiles)  # type: ignore[arg-type]
            identities.insert_rows(session, keyring, rows)  # type: ignore[arg-type]
            match_keys.replace_keys(session, keyed, new={row.id for row in rows})
    # As autovacuum would leave a store loaded long ago: statistics, and a visibility map that
    # lets index-only scans skip the heap.
    engine = sessions.kw["bind"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))
    return time.perf_counter() - started


def preloaded_store(
    stack: ExitStack, keep_store: Path | None, count: int, people: list[Person] | None = None
) -> tuple[PreloadedStore, Store]:
    """A store of `count` preloaded users (`people`, else the generator's): the one kept in
    `keep_store` cloned, else preloaded now (and kept there for the next run)."""
    directory = keep_store or Path(stack.enter_context(tempfile.TemporaryDirectory()))
    preloaded = stack.enter_context(PreloadedStore.open(directory, f"preload_{count}"))
    store = open_store(preloaded.fresh_run(), preloaded.data_dir)
    if preloaded.has_preload():
        print(f"a kept {count:,}-user store, cloned")
        return preloaded, store
    if people is None:
        people = generate(count, seed=7).people[:count]
    seconds = preload(store.sessions, store.keyring, people)
    print(f"preloaded {count:,} users in {seconds:.1f}s")
    store.engine.dispose()  # no one may be connected while it is copied
    preloaded.save_preload()
    return preloaded, store
