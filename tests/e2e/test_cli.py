import subprocess
import sys

import psycopg

MDS = [sys.executable, "-m", "mds"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MDS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_db_upgrade_then_check_is_clean(cli_env: dict[str, str]) -> None:
    upgraded = run(cli_env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = run(cli_env, "db", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "schema matches models" in checked.stdout


def test_db_check_fails_on_an_empty_database(cli_env: dict[str, str]) -> None:
    checked = run(cli_env, "db", "check")
    assert checked.returncode == 1
    assert "not at head" in checked.stdout


def test_db_check_names_the_drift(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    with psycopg.connect(cli_env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("ALTER TABLE outbox ADD COLUMN rogue_column int")
    checked = run(cli_env, "db", "check")
    assert checked.returncode == 1
    assert "rogue_column" in checked.stdout


def test_invalid_setting_stops_the_command_and_names_it(cli_env: dict[str, str]) -> None:
    result = run({**cli_env, "MDS_DB_POOL_SIZE": "lots"}, "db", "check")
    assert result.returncode == 2
    assert "MDS_DB_POOL_SIZE" in result.stderr


def test_keys_rotate_makes_a_new_primary(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    first = run(cli_env, "keys", "rotate")
    assert first.returncode == 0, first.stderr
    second = run(cli_env, "keys", "rotate", "--kek")
    assert second.returncode == 0, second.stderr
    assert "re-wrapped 3 data key(s)" in second.stdout
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        states = conn.execute(
            "SELECT state, count(*) FROM encryption_keys WHERE purpose = 'data' GROUP BY state"
        ).fetchall()
    assert dict(states) == {"primary": 1, "active": 2}
