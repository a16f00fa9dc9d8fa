"""The audit trail against a real PostgreSQL: the database refuses changes, verification finds
tampering done with DBA rights, concurrent appends form one chain, retention keeps its floor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry, ProblemKind, row_hash
from mds.services import audit as audit_service
from mds.store import audit as audit_store
from mds.store import migrate
from mds.store.database import make_session_factory
from tests.integration.helpers import settings_for


def entries(n: int, tag: str = "t") -> list[AuditEntry]:
    return [AuditEntry("test", "user.updated", "user", f"{tag}{i}", {"i": i}) for i in range(n)]


def backdate(session: Session, stamps: list[datetime]) -> None:
    """Rows at the given times, hash-chained from the current head (what appends made years
    ago would have left)."""
    head = audit_store.chain_head(session)
    previous, seq = head.last_hash, head.last_seq
    for stamp in stamps:
        session.execute(text("SELECT mds_audit_ensure_partition(:ts)"), {"ts": stamp})
        seq += 1
        entry = AuditEntry("test", "user.created", "user", f"old{seq}", {"seq": seq})
        digest = row_hash(previous, seq, stamp, entry)
        session.execute(
            text(
                "INSERT INTO audit_log (seq, occurred_at, actor, action, entity_type, entity_id,"
                " details, prev_hash, row_hash) VALUES (:seq, :at, 'test', 'user.created', 'user',"
                " :eid, jsonb_build_object('seq', :seq), :prev, :hash)"
            ),
            {"seq": seq, "at": stamp, "eid": entry.entity_id, "prev": previous, "hash": digest},
        )
        previous = digest
    session.execute(
        text("UPDATE audit_chain SET last_seq = :seq, last_hash = :hash"),
        {"seq": seq, "hash": previous},
    )


def mid_month(session: Session, years_ago: int) -> datetime:
    """The middle of the month `years_ago` years back: well inside one partition."""
    stamp: datetime = session.execute(
        text("SELECT date_trunc('month', now() - make_interval(years => :y)) + interval '14 days'"),
        {"y": years_ago},
    ).scalar_one()
    return stamp.astimezone(UTC)


def problems(session: Session) -> dict[int, ProblemKind]:
    return {p.seq: p.kind for p in audit_service.verify(session).problems}


@pytest.fixture
def guard_off(connection: Connection) -> Iterator[Connection]:
    """An attacker with DBA rights: the append-only trigger disabled (rolled back after)."""
    connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    yield connection


def test_the_database_refuses_update_delete_and_truncate(
    connection: Connection, db_session: Session
) -> None:
    audit_store.append(db_session, entries(3))
    connection.execute(
        text(
            "INSERT INTO audit_anchors (partition_name, range_start, range_end, row_count)"
            " VALUES ('audit_log_p200001', '2000-01-01Z', '2000-02-01Z', 0)"
        )
    )
    rows = connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    partition = connection.execute(text("SELECT mds_audit_ensure_partition(now())")).scalar_one()
    attempts = [
        "UPDATE audit_log SET actor = 'forger'",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
        f"UPDATE {partition} SET actor = 'forger'",
        f"DELETE FROM {partition}",
        f"TRUNCATE {partition}",
        "UPDATE audit_anchors SET row_count = 0",
        "DELETE FROM audit_anchors",
        "TRUNCATE audit_anchors",
    ]
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"), connection.begin_nested():
            connection.execute(text(statement))
    assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == rows


def test_appends_verify_including_details_jsonb_rewrites(db_session: Session) -> None:
    odd = AuditEntry("t", "a", "user", "u", {"big": 1e20, "neg": -0.0, "tiny": 1e-7, 7: [1.5]})
    before = audit_store.chain_head(db_session).last_seq
    audit_store.append(db_session, [*entries(5), odd])
    audit_store.append(db_session, entries(4, "b"))
    report = audit_service.verify(db_session)
    assert report.intact, report.problems
    assert report.last_seq == before + 10


# Seqs relative to the head before the test's two appends of four rows (s+1 … s+8).
TAMPERING = [
    ("UPDATE audit_log SET details = '{{}}' WHERE seq = {s} + 4", {4: ProblemKind.EDITED}),
    ("DELETE FROM audit_log WHERE seq = {s} + 4", {4: ProblemKind.MISSING}),
    ("DELETE FROM audit_log WHERE seq >= {s} + 7", {7: ProblemKind.MISSING}),
    (
        "UPDATE audit_log SET seq = CASE seq WHEN {s} + 4 THEN {s} + 5 ELSE {s} + 4 END"
        " WHERE seq IN ({s} + 4, {s} + 5)",
        {4: ProblemKind.REORDERED, 5: ProblemKind.REORDERED, 6: ProblemKind.REORDERED},
    ),
    (
        "INSERT INTO audit_log SELECT seq, occurred_at + interval '1 second', 'forger',"
        " action, entity_type, entity_id, details, prev_hash, row_hash"
        " FROM audit_log WHERE seq = {s} + 3",
        {3: ProblemKind.DUPLICATE},
    ),
    ("UPDATE audit_chain SET last_seq = {s} + 7", {8: ProblemKind.HEAD_MISMATCH}),
]


@pytest.mark.parametrize(("tamper", "expected"), TAMPERING)
def test_verify_names_tampered_seqs(
    guard_off: Connection, db_session: Session, tamper: str, expected: dict[int, ProblemKind]
) -> None:
    base = audit_store.chain_head(db_session).last_seq
    audit_store.append(db_session, entries(4))
    audit_store.append(db_session, entries(4, "b"))
    assert audit_service.verify(db_session).intact
    guard_off.execute(text(tamper.format(s=base)))
    assert problems(db_session) == {base + offset: kind for offset, kind in expected.items()}


def test_concurrent_appends_form_one_chain(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    sessions = make_session_factory(fresh_engine)
    writers, rounds, per_append = 8, 6, 3
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for round_ in range(rounds):
                with sessions() as session, session.begin():
                    audit_store.append(session, entries(per_append, f"w{number}r{round_}-"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = audit_service.verify_trail(sessions)
    total = writers * rounds * per_append
    assert report.intact, report.problems
    assert report.rows_checked == report.last_seq == total
    with sessions() as session:
        # Each append's rows stay together, in the order given.
        ids = session.execute(text("SELECT entity_id FROM audit_log ORDER BY seq")).scalars().all()
        stamps = session.execute(text("SELECT occurred_at FROM audit_log ORDER BY seq")).all()
    for start in range(0, total, per_append):
        prefix = ids[start].rstrip("0123456789")
        assert ids[start : start + per_append] == [f"{prefix}{i}" for i in range(per_append)]
    # Time follows seq, so each month's partition holds one contiguous seq range.
    assert [s for (s,) in stamps] == sorted(s for (s,) in stamps)


def test_retention_drops_only_partitions_past_the_floor_and_keeps_anchors(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    sessions = make_session_factory(fresh_engine)
    with sessions() as session, session.begin():
        eight, six = mid_month(session, 8), mid_month(session, 6)
        almost_seven = session.execute(
            text("SELECT now() - interval '7 years' + interval '3 days'")
        ).scalar_one()
        backdate(session, [eight, eight + timedelta(hours=1), almost_seven.astimezone(UTC), six])
        backdate(session, [six + timedelta(seconds=1)])
        audit_store.append(session, entries(2))
    with sessions() as session:
        old = session.execute(text("SELECT mds_audit_ensure_partition(:t)"), {"t": eight})
        old_name = old.scalar_one()
        before = {p.name for p in audit_store.partitions(session)}

    planned = audit_service.run_retention(sessions, 7, actor="test", dry_run=True)
    assert [(c.partition.name, c.rows) for c in planned.candidates] == [(old_name, 2)]
    assert not planned.dropped
    with sessions() as session:
        assert {p.name for p in audit_store.partitions(session)} == before

    result = audit_service.run_retention(sessions, 7, actor="test")
    assert [(a.partition, a.row_count, a.first_seq, a.last_seq) for a in result.dropped] == [
        (old_name, 2, 1, 2)
    ]
    assert result.verified_rows == 3  # the two dropped rows and the link to the next
    with sessions() as session:
        assert {p.name for p in audit_store.partitions(session)} == before - {old_name}
        (anchor,) = audit_store.anchors(session)
        assert anchor.partition == old_name and anchor.last_seq == 2
        dropped_record = session.execute(
            text("SELECT entity_id FROM audit_log WHERE action = 'audit.partition_dropped'")
        ).scalar_one()
        assert dropped_record == old_name
    report = audit_service.verify_trail(sessions)
    assert report.intact, report.problems
    assert report.rows_checked == 6  # 3 kept from the past, 2 appended, 1 for the drop

    # Nothing else is old enough, whatever the retention asked for.
    assert not audit_service.run_retention(sessions, 7, actor="test").dropped
    with pytest.raises(audit_service.RetentionRefusedError, match="below the floor"):
        audit_service.run_retention(sessions, 6, actor="test")


def test_the_drop_function_enforces_the_floor_itself(connection: Connection) -> None:
    young = connection.execute(
        text("SELECT mds_audit_ensure_partition(now() - interval '6 years')")
    ).scalar_one()
    for call, message in [
        (f"SELECT mds_audit_drop_partition('{young}')", "not older than the retention"),
        (f"SELECT mds_audit_drop_partition('{young}', interval '1 year')", "below the floor"),
        ("SELECT mds_audit_drop_partition('canonical_users')", "not a partition of audit_log"),
    ]:
        with pytest.raises(DBAPIError, match=message), connection.begin_nested():
            connection.execute(text(call))
    # A partition exactly at the floor still holds rows younger than 7 years: kept.
    boundary = connection.execute(
        text("SELECT mds_audit_ensure_partition(now() - interval '7 years')")
    ).scalar_one()
    with pytest.raises(DBAPIError, match="not older"), connection.begin_nested():
        connection.execute(text(f"SELECT mds_audit_drop_partition('{boundary}')"))
    # Oldest first, so what remains is always a suffix of the chain.
    connection.execute(text("SELECT mds_audit_ensure_partition(now() - interval '9 years')"))
    newer = connection.execute(
        text("SELECT mds_audit_ensure_partition(now() - interval '8 years')")
    ).scalar_one()
    with pytest.raises(DBAPIError, match="not the oldest"), connection.begin_nested():
        connection.execute(text(f"SELECT mds_audit_drop_partition('{newer}')"))


def test_retention_refuses_to_drop_rows_that_do_not_verify(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    sessions = make_session_factory(fresh_engine)
    with sessions() as session, session.begin():
        eight = mid_month(session, 8)
        backdate(session, [eight, eight, eight])
        audit_store.append(session, entries(1))
        session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        session.execute(text("UPDATE audit_log SET actor = 'forger' WHERE seq = 2"))
        session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    with pytest.raises(audit_service.RetentionRefusedError, match="seq 2: edited"):
        audit_service.run_retention(sessions, 7, actor="test")
    # Once the operator decides to drop anyway, the anchor holds what was there.
    result = audit_service.run_retention(sessions, 7, actor="test", verify_first=False)
    assert [a.row_count for a in result.dropped] == [3]
    assert audit_service.verify_trail(sessions).intact
    # A partition dropped behind retention's back leaves no anchor: its seqs show as missing.
    with sessions() as session, session.begin():
        name = session.execute(text("SELECT mds_audit_ensure_partition(now())")).scalar_one()
        session.execute(text(f"DROP TABLE {name}"))
        session.execute(text("SELECT mds_audit_ensure_partition(now())"))
    kinds = {p.kind for p in audit_service.verify_trail(sessions).problems}
    assert kinds == {ProblemKind.MISSING}
