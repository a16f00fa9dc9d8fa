"""`mds audit verify` and `mds retention run` as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from mds.domain.audit import AuditEntry
from mds.store import audit as audit_store
from mds.store.database import make_engine, make_session_factory, sqlalchemy_url
from tests.integration.helpers import settings_for

MDS = [sys.executable, "-m", "mds"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MDS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_audit_verify_exit_codes_name_the_tampered_seq(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    url = cli_env["DATABASE_URL"]
    assert run(cli_env, "db", "upgrade").returncode == 0
    engine = make_engine(sqlalchemy_url(url), settings_for(url, tmp_path))
    with make_session_factory(engine)() as session, session.begin():
        audit_store.append(session, [AuditEntry("t", "a", "user", str(i)) for i in range(5)])
    engine.dispose()

    intact = run(cli_env, "audit", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intact: 5 row(s) checked" in intact.stdout

    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("UPDATE audit_log SET entity_id = 'someone else' WHERE seq = 3")
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    tampered = run(cli_env, "audit", "verify")
    assert tampered.returncode == 1
    assert "seq 3: edited" in tampered.stdout

    dry = run(cli_env, "retention", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "nothing to drop" in dry.stdout
    too_short = run({**cli_env, "MDS_AUDIT_RETENTION_YEARS": "5"}, "retention", "run")
    assert too_short.returncode == 2
    assert "MDS_AUDIT_RETENTION_YEARS" in too_short.stderr
