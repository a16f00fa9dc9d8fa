"""`mds serve` with no DATABASE_URL: a real embedded PostgreSQL that survives restarts."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from pgserver.utils import PostmasterInfo

from tests.e2e.conftest import free_port


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(MDS_DATA_DIR=str(data_dir), MDS_PORT=str(port))
    return subprocess.Popen(
        [sys.executable, "-m", "mds", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mds serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("mds serve did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def _db_uri(pgdata: Path) -> str:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None, "the embedded server is not running"
    return str(info.get_uri(database="mds"))


@pytest.mark.slow
def test_serve_starts_embedded_postgres_and_reuses_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "mds-home"
    pgdata = data_dir / "postgres"
    port = free_port()

    first = _start(data_dir, port)
    try:
        _wait_ready(port, first)
        with psycopg.connect(_db_uri(pgdata)) as conn:
            assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
            conn.execute("INSERT INTO canonical_users (id) VALUES (gen_random_uuid())")
            conn.commit()
            keys_before = conn.execute("SELECT id FROM encryption_keys ORDER BY id").fetchall()
    finally:
        _stop(first)
    assert not (pgdata / "postmaster.pid").exists(), "the last process stops the server"
    assert (data_dir / "keys" / "kek.json").stat().st_mode & 0o077 == 0

    second = _start(data_dir, port)
    try:
        _wait_ready(port, second)
        with psycopg.connect(_db_uri(pgdata)) as conn:
            assert conn.execute("SELECT count(*) FROM canonical_users").fetchone() == (1,)
            keys_after = conn.execute("SELECT id FROM encryption_keys ORDER BY id").fetchall()
    finally:
        _stop(second)
    assert keys_after == keys_before
