"""Schema migrations (Alembic) and the drift check between models and migrations.

Upgrades serialize on a session advisory lock so that replicas starting together migrate once;
DDL then runs under lock and statement timeouts so a blocked migration fails instead of stalling
live traffic behind its lock queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from mds.config import Settings
from mds.store.models import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key: the first 8 bytes of sha256("mds.migrations"), fixed so all replicas agree.
MIGRATION_LOCK_KEY = 0x4D44_535F_4D49_4752
_PARTITION = re.compile(r"^audit_log_p\d{6}$")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave out what Alembic should not manage: the audit log's monthly partitions."""
    return not (type_ == "table" and name is not None and _PARTITION.match(name))


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, settings: Settings, revision: str = "head") -> str | None:
    """Migrate to `revision` under the migration lock; return the revision reached."""
    with engine.connect() as conn:
        conn.execute(text(f"SET statement_timeout = {settings.migration_statement_timeout_ms}"))
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            conn.execute(text(f"SET lock_timeout = {settings.migration_lock_timeout_ms}"))
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
            return current_revision(conn)
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()


def downgrade(engine: Engine, settings: Settings, revision: str) -> None:
    with engine.connect() as conn:
        conn.execute(text(f"SET lock_timeout = {settings.migration_lock_timeout_ms}"))
        command.downgrade(alembic_config(conn), revision)
        conn.commit()


@dataclass(frozen=True)
class DriftReport:
    current: str | None
    head: str
    differences: list[str]

    @property
    def clean(self) -> bool:
        return self.current == self.head and not self.differences


def check(engine: Engine) -> DriftReport:
    """Compare the live schema with the models; any difference is drift."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        differences = [repr(diff) for diff in compare_metadata(context, Base.metadata)]
        return DriftReport(current_revision(conn), head_revision(), differences)
