"""Concurrent workers resolving the same person must never create two users.

Each worker stops right after its reads (the `after_load` seam) and waits for the other: without
the advisory locks both have read an empty store and both create a user (the control); with the
locks the second worker cannot read until the first commits, and links to its user.
"""

import contextlib
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import sessionmaker

from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import locks, migrate
from mds.store.models import CanonicalUser
from tests.integration.helpers import settings_for
from tests.integration.ingest_helpers import ANA, service, signal

WORKERS = 3


def _race(engine: Engine, tmp_path: Path, *, locks: bool) -> int:
    sessions = sessionmaker(engine, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    barrier = threading.Barrier(WORKERS, timeout=2)

    def wait_for_the_others() -> None:
        # With locks the others are blocked on the lock: the barrier breaks and we go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    errors: list[BaseException] = []

    def worker(n: int) -> None:
        ingest = service(sessions, keyring, after_load=wait_for_the_others, advisory_locks=locks)
        try:
            ingest.ingest([signal(f"R-{n}", source=f"system{n}", **ANA)])
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CanonicalUser)) or 0)


@pytest.fixture
def migrated(fresh_engine: Engine, fresh_database: str, tmp_path: Path) -> Engine:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    return fresh_engine


def test_with_advisory_locks_concurrent_workers_create_one_user(
    migrated: Engine, tmp_path: Path
) -> None:
    assert _race(migrated, tmp_path, locks=True) == 1


def test_control_without_locks_the_same_race_creates_duplicates(
    migrated: Engine, tmp_path: Path
) -> None:
    assert _race(migrated, tmp_path, locks=False) == WORKERS


def test_two_large_batches_hold_their_key_locks_at_once(migrated: Engine) -> None:
    # Batches of 2,000 signals (about 11 locks each) in two importers at once: with PostgreSQL's
    # default lock table the second fails with "out of shared memory" (SQLSTATE 53200).
    per_batch = 2_000 * 11
    sessions = sessionmaker(migrated)
    with sessions() as first, first.begin(), sessions() as second, second.begin():
        limit = int(first.execute(text("SHOW max_locks_per_transaction")).scalar_one())
        if limit < 512:
            pytest.skip(f"max_locks_per_transaction is {limit} on this external server")
        taken = [
            locks.lock_hashes(session, [os.urandom(32) for _ in range(per_batch)])
            for session in (first, second)
        ]
        pids = [s.execute(text("SELECT pg_backend_pid()")).scalar_one() for s in (first, second)]
        held = second.execute(  # other test workers share the server: count these two only
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = ANY(:p)"),
            {"p": pids},
        ).scalar_one()
    assert taken == [per_batch, per_batch]
    assert held == 2 * per_batch
