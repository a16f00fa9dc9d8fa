"""Concurrent workers resolving the same person must never create two users.

Each worker stops right after its reads (the `after_load` seam) and waits for the other: without
the advisory locks both have read an empty store and both create a user (the control); with the
locks the second worker cannot read until the first commits, and links to its user.
"""

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mds.domain.signals import Signal
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.services.resolution.outcomes import SignalOutcome, Status
from mds.services.resolution.resolver import SignalView
from mds.store import locks, match_keys
from mds.store.locks import lock_id
from mds.store.match_keys import CANDIDATES_PER_KEY, HashedKey
from mds.store.models import CanonicalUser
from tests.integration.helpers import identities_with_key, run_concurrently
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

    def worker(n: int) -> None:
        ingest = service(sessions, keyring, after_load=wait_for_the_others, advisory_locks=locks)
        ingest.ingest([signal(f"R-{n}", source=f"system{n}", **ANA)])

    run_concurrently(*(functools.partial(worker, n) for n in range(WORKERS)))
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CanonicalUser)) or 0)


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


HOME = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid", "country": "ES"}


def _paused_batch(
    sessions: sessionmaker, keyring: Keyring, record: Signal
) -> tuple[threading.Thread, threading.Event, threading.Event, list[SignalOutcome]]:
    """A batch that stops after its reads (its user locks held) until `release` is set."""
    paused, release = threading.Event(), threading.Event()
    outcomes: list[SignalOutcome] = []

    def hold() -> None:
        paused.set()
        release.wait(timeout=30)

    ingest = service(sessions, keyring, after_load=hold)
    thread = threading.Thread(target=lambda: outcomes.extend(ingest.ingest([record])))
    thread.start()
    assert paused.wait(timeout=30)
    return thread, release, paused, outcomes


def _run(sessions: sessionmaker, keyring: Keyring, record: Signal) -> threading.Thread:
    thread = threading.Thread(target=lambda: service(sessions, keyring).ingest([record]))
    thread.start()
    return thread


def test_batches_that_only_score_a_user_do_not_wait_for_each_other(
    migrated: Engine, tmp_path: Path
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    service(sessions, keyring).ingest([signal("C-1", **ANA, address=HOME)])
    # Ana's household: one member found through her phone, the other through her address;
    # no key in common, so only Ana's user row could make one batch wait for the other.
    luis = signal("C-2", given_name="Luis", family_name="García", phone=ANA["phone"])
    marta = signal("C-3", given_name="Marta", family_name="García", address=HOME)
    first, release, _, outcomes = _paused_batch(sessions, keyring, luis)
    try:
        second = _run(sessions, keyring, marta)
        second.join(timeout=10)
        assert not second.is_alive(), "the second batch waited for the first one's lock on Ana"
    finally:
        release.set()
        first.join()
    assert [o.status for o in outcomes] == [Status.REVIEW]


def test_a_batch_that_changes_a_user_waits_for_the_batches_reading_it(
    migrated: Engine, tmp_path: Path
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    [ana] = service(sessions, keyring).ingest([signal("C-1", **ANA)])
    luis = signal("C-2", given_name="Luis", family_name="García", phone=ANA["phone"])
    # Ana again, with an address she had not given: linked to her user, which changes. No
    # key in common with Luis's record (her phone is left out), so only her row is shared.
    again = signal("S-1", source="signup", **{**ANA, "phone": None}, address=HOME)
    first, release, _, _ = _paused_batch(sessions, keyring, luis)
    try:
        second = _run(sessions, keyring, again)  # links to Ana: her user changes
        second.join(timeout=3)
        assert second.is_alive(), "Ana changed while another batch was reading her"
    finally:
        release.set()
        first.join()
    second.join(timeout=30)
    with sessions() as session:
        version, held = session.execute(
            text(
                "SELECT u.version, (SELECT count(*) FROM source_identities s"
                " WHERE s.user_id = u.id) FROM canonical_users u WHERE u.id = :id"
            ),
            {"id": ana.user_id},
        ).one()
    assert (version, held) == (2, 2)


def test_a_crowded_key_is_not_locked_once_known(migrated: Engine, tmp_path: Path) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    record = signal("C-1", **ANA)
    view = SignalView.of(record, service(sessions, keyring).config, date(2026, 11, 25), keyring)
    by_type = {key_type: (key_type, digest) for key_type, digest in view.keys}
    full_name, name_dob, email = by_type["full_name"], by_type["name_dob"], by_type["email"]
    with sessions() as session, session.begin():
        identities_with_key(session, keyring, full_name, CANDIDATES_PER_KEY + 1)
    locked: list[set[int]] = []

    def held_advisory_locks() -> None:  # this database is the test's own: the batch's locks
        with migrated.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT classid::bigint, objid::bigint FROM pg_locks"
                    " WHERE locktype = 'advisory' AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).all()
        locked.append({(c << 32) | o for c, o in rows})

    def was_locked(batch: int, key: tuple[str, bytes]) -> bool:
        return lock_id(key[1]) & (2**64 - 1) in locked[batch]

    ingest = service(sessions, keyring, after_load=held_advisory_locks)
    ingest.ingest([record])  # knows nothing yet: asks the store about its keys
    assert not was_locked(0, full_name) and was_locked(0, email)
    with sessions() as session, session.begin():
        identities_with_key(session, keyring, name_dob, CANDIDATES_PER_KEY + 1)
    ingest.ingest([signal("S-1", source="signup", **ANA)])  # learns it from its candidates
    assert was_locked(1, name_dob)
    ingest.ingest([signal("T-1", source="support", **ANA)])
    assert not was_locked(2, name_dob) and not was_locked(2, full_name) and was_locked(2, email)


def test_a_key_known_to_be_crowded_is_not_asked_for_candidates(
    migrated: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    ingest = service(sessions, keyring)
    ingest.ingest([signal("C-1", **ANA)])
    view = SignalView.of(signal("C-1", **ANA), ingest.config, date(2026, 11, 25), keyring)
    full_name = next(key for key in view.keys if key[0] == "full_name")
    with sessions() as session, session.begin():
        identities_with_key(session, keyring, full_name, CANDIDATES_PER_KEY + 1)
    asked: list[set[tuple[str, bytes]]] = []
    ranked = match_keys.ranked_candidates

    def recording(
        session: Session, wanted: Sequence[Sequence[HashedKey]], *args: Any, **kwargs: Any
    ) -> match_keys.Candidates:
        asked.append({key for keys in wanted for key in keys})
        return ranked(session, wanted, *args, **kwargs)

    monkeypatch.setattr(match_keys, "ranked_candidates", recording)
    first = ingest.ingest([signal("S-1", source="signup", **ANA)])  # learns it is crowded
    second = ingest.ingest([signal("T-1", source="support", **ANA)])

    assert full_name in asked[0] and full_name not in asked[1]
    # Still found through the keys that do reach someone.
    assert first[0].user_id == second[0].user_id
    assert (first[0].status, second[0].status) == (Status.LINKED, Status.LINKED)
