import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from mds.config import Settings, load_settings
from mds.store import migrate
from mds.store.models import Base
from tests.integration.helpers import settings_for

EXPECTED_TABLES = {
    "canonical_users",
    "canonical_profiles",
    "source_identities",
    "signals",
    "match_keys",
    "attribute_lineage",
    "potential_duplicates",
    "merge_events",
    "audit_log",
    "outbox",
    "encryption_keys",
    "match_models",
    "audit_chain",
    "audit_anchors",
    "ingest_errors",
}


def _settings(tmp_path: Path, url: str) -> Settings:
    return settings_for(url, tmp_path)


def test_upgrade_from_empty_reaches_head_with_every_table(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    reached = migrate.upgrade(fresh_engine, _settings(tmp_path, fresh_database))
    assert reached == migrate.head_revision()
    tables = set(inspect(fresh_engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    assert set(Base.metadata.tables) == EXPECTED_TABLES


def test_drift_check_is_clean_at_head(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, _settings(tmp_path, fresh_database))
    report = migrate.check(fresh_engine)
    assert report.clean, report.differences


def test_drift_check_reports_schema_the_models_do_not_know(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh_engine, _settings(tmp_path, fresh_database))
    with fresh_engine.begin() as conn:
        conn.execute(text("ALTER TABLE canonical_users ADD COLUMN nickname text"))
        conn.execute(text("DROP INDEX ix_source_identities_user_id"))
    report = migrate.check(fresh_engine)
    assert not report.clean
    joined = "\n".join(report.differences)
    assert "nickname" in joined
    assert "ix_source_identities_user_id" in joined


def test_drift_check_reports_a_database_behind_head(fresh_engine: Engine) -> None:
    report = migrate.check(fresh_engine)
    assert report.current is None
    assert not report.clean


def test_downgrade_to_base_then_upgrade_again(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fresh_database)
    migrate.upgrade(fresh_engine, settings)
    migrate.downgrade(fresh_engine, settings, "base")
    assert not (EXPECTED_TABLES & set(inspect(fresh_engine).get_table_names()))
    migrate.upgrade(fresh_engine, settings)
    assert migrate.check(fresh_engine).clean


def test_replicas_upgrading_at_once_migrate_exactly_once(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fresh_database)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def replica() -> None:
        barrier.wait()
        try:
            results.append(migrate.upgrade(fresh_engine, settings))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [migrate.head_revision()] * 4
    with fresh_engine.connect() as conn:
        versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    assert versions == 1


def test_migration_lock_timeout_fails_instead_of_queueing(
    fresh_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    settings = load_settings(
        database_url=fresh_database, data_dir=tmp_path, migration_lock_timeout_ms=200
    )
    with fresh_engine.connect() as blocker:
        # An uncommitted table of the same name makes the migration's CREATE TABLE wait.
        blocker.execute(text("CREATE TABLE canonical_users (id int)"))
        with pytest.raises(DBAPIError):
            migrate.upgrade(fresh_engine, settings)
        blocker.rollback()


def test_audit_log_is_partitioned_and_append_only(engine: Engine) -> None:
    with engine.connect() as conn:
        partitions = (
            conn.execute(
                text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits"
                    " WHERE inhparent = 'audit_log'::regclass"
                )
            )
            .scalars()
            .all()
        )
        assert len(partitions) >= 2
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, actor, action, entity_type, entity_id, prev_hash,"
                " row_hash) VALUES (1, 'test', 'probe', 'test', 'x', '', '')"
            )
        )
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(text("UPDATE audit_log SET actor = 'forger'"))
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(text("DELETE FROM audit_log"))
        conn.rollback()


def test_audit_partition_function_creates_months_on_demand(connection: Connection) -> None:
    name = connection.execute(
        text("SELECT mds_audit_ensure_partition('2031-02-17T23:59:00Z')")
    ).scalar_one()
    assert name == "audit_log_p203102"
    again = connection.execute(
        text("SELECT mds_audit_ensure_partition('2031-02-01T00:00:00Z')")
    ).scalar_one()
    assert again == name
    bounds = connection.execute(
        text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = :n"), {"n": name}
    ).scalar_one()
    assert "2031-02-01" in bounds and "2031-03-01" in bounds
