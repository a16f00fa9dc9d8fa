import random
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.matching.candidates import KEY_STRENGTH, best_candidates
from mds.security.keyring import Keyring
from mds.services.resolution.term_counts import TermCounts
from mds.store import match_keys
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.source_identities import IdentityRow
from mds.store.users import UserRow
from tests.integration.helpers import identities_with_key

KEY_TYPES = ["email", "phone", "name_dob", "full_name", "address"]


def _carrying(
    session: Session, keys: set[tuple[str, bytes]]
) -> list[tuple[str, bytes, uuid.UUID, uuid.UUID]]:
    """Every linked identity carrying one of the keys (fewer than the per-key limit here)."""
    rows = session.execute(
        text("SELECT key_type, key_hash, source_identity_id, user_id FROM match_keys")
    ).all()
    return [(t, bytes(h), i, u) for t, h, i, u in rows if (t, bytes(h)) in keys and u is not None]


def test_candidates_ranked_in_the_database_are_the_ones_the_engine_ranks(
    db_session: Session, keyring: Keyring
) -> None:
    rng = random.Random(5)
    pool = [(t, bytes([n])) for t in KEY_TYPES for n in range(4)]
    now = datetime.now(UTC)
    people = [UserRow(uuid.uuid4(), "active", None, 1, now) for _ in range(30)]
    user_store.insert_users(db_session, people)
    rows, keyed = [], []
    for n, user in enumerate(people):
        # Some users have two identities: a user counts once per key whatever its identities.
        for copy in range(1 + n % 3 // 2):
            row = IdentityRow(uuid.uuid4(), "crm", f"C-{n}-{copy}", user.id, {}, None)
            rows.append(row)
            keyed.append((row.id, user.id, rng.sample(pool, 4)))
    identities.insert_rows(db_session, keyring, rows)
    match_keys.replace_keys(db_session, keyed)
    wanted = [rng.sample(pool, rng.randint(0, 6)) for _ in range(25)]

    for per_record in (1, 3, 8):
        ranked = match_keys.ranked_candidates(db_session, wanted, KEY_STRENGTH, per_record).rows
        found = _carrying(db_session, {k for keys in wanted for k in keys})
        kept = best_candidates(wanted, found, per_record)
        assert {r[3] for r in ranked} == kept
        assert sorted(ranked) == sorted(r for r in found if r[3] in kept)
        assert len(kept) < len(people)  # the ranking left users out: the test can fail


def test_common_values_are_counted_once_in_a_while_and_rare_ones_every_time(
    db_session: Session, keyring: Keyring
) -> None:
    common, rare = ("given_name", b"maria"), ("given_name", b"xochitl")
    identities_with_key(db_session, keyring, common, 5)
    identities_with_key(db_session, keyring, rare, 1)
    clock = [0.0]
    counts = TermCounts(common=5, ttl_seconds=60, clock=lambda: clock[0])
    assert counts(db_session, [common, rare], 100) == {common: 5, rare: 1}

    identities_with_key(db_session, keyring, common, 1)
    identities_with_key(db_session, keyring, rare, 1)
    # Within the time to live, a common value keeps its share of a store that doubled.
    assert counts(db_session, [common, rare], 200) == {common: 10, rare: 2}
    clock[0] = 61.0
    assert counts(db_session, [common, rare], 200) == {common: 6, rare: 2}


def test_a_key_shared_by_too_many_identities_reaches_none(
    db_session: Session, keyring: Keyring
) -> None:
    crowded, selective = ("full_name", b"common"), ("full_name", b"rare")
    identities_with_key(db_session, keyring, crowded, 4)
    identities_with_key(db_session, keyring, selective, 3)

    def reached(per_key: int) -> set[bytes]:
        found = match_keys.ranked_candidates(
            db_session, [[crowded, selective]], KEY_STRENGTH, per_record=10, per_key=per_key
        )
        assert found.crowded == ({crowded} if per_key < 4 else set())
        return {row[1] for row in found.rows}

    assert reached(per_key=4) == {b"common", b"rare"}  # at the limit: every carrier is reached
    assert reached(per_key=3) == {b"rare"}  # past it: an arbitrary few would be, so none is


def _keys_of(session: Session) -> set[tuple[uuid.UUID, str, bytes, uuid.UUID | None]]:
    rows = session.execute(
        text("SELECT source_identity_id, key_type, key_hash, user_id FROM match_keys")
    ).all()
    return {(i, t, bytes(h), u) for i, t, h, u in rows}


def test_replacing_keys_writes_only_what_changed_and_leaves_exactly_the_wanted_keys(
    db_session: Session, keyring: Keyring
) -> None:
    now = datetime.now(UTC)
    first, second = (UserRow(uuid.uuid4(), "active", None, 1, now) for _ in range(2))
    user_store.insert_users(db_session, [first, second])
    rows = [IdentityRow(uuid.uuid4(), "crm", f"C-{n}", first.id, {}, None) for n in range(3)]
    identities.insert_rows(db_session, keyring, rows)
    a, b, c = (row.id for row in rows)
    email, phone, name, town = (("email", b"e"), ("phone", b"p"), ("full_name", b"n"),
                                ("dob_place", b"t"))  # fmt: skip
    written = match_keys.replace_keys(
        db_session,
        [(a, first.id, [email, phone, name]), (b, first.id, [name, name])],
        new={a, b},
    )
    assert written == 4  # a key listed twice is one row

    # a: the phone changed to a town; b: moved to the second user; c: keys for the first time.
    written = match_keys.replace_keys(
        db_session,
        [(a, first.id, [email, name, town]), (b, second.id, [name]), (c, second.id, [phone])],
    )
    assert written == 4  # phone gone, town added, b repointed, c's phone added
    assert _keys_of(db_session) == {
        (a, "email", b"e", first.id),
        (a, "full_name", b"n", first.id),
        (a, "dob_place", b"t", first.id),
        (b, "full_name", b"n", second.id),
        (c, "phone", b"p", second.id),
    }
    assert match_keys.replace_keys(db_session, [(a, first.id, [email, name, town])]) == 0
