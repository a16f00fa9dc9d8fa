"""The embedded PostgreSQL used when DATABASE_URL is unset: a real server from the pgserver wheel.

The data directory persists across restarts. pgserver counts the processes using one data
directory and stops the server when the last of them exits, so several `mds` processes share it.
Logical replication (`wal_level=logical`) is switched on once, so the CDC path works locally,
and the lock table is sized for the advisory locks of concurrent ingest batches.

pgserver is pinned below 0.2: a few of its internals (pg_ctl wrapper, postmaster info, the
handle list) are used here because its public API cannot restart a server or forget dead users.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
import structlog

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
    warnings.simplefilter("ignore")
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import
    from pgserver.postgres_server import get_server
    from pgserver.utils import PostmasterInfo

log = structlog.get_logger(__name__)

_SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    # A batch holds an advisory lock per blocking key until it commits: about 11 per signal,
    # 5,500 for a batch of 500. PostgreSQL's default lock table (64 per backend, shared by every
    # session) failed two transactions of 10,000 locks each with "out of shared memory"; 512
    # gives room for several importers and the API (about 60k locks, some 17 MB of memory).
    "max_locks_per_transaction": "512",
}


class EmbeddedPostgres:
    """A handle on the embedded server for one data directory."""

    def __init__(self, pgdata: Path, *, delete_on_exit: bool = False) -> None:
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        # pgserver creates the directory with exist_ok=False outside its inter-process lock, so
        # two processes starting together (test workers, replicas) race on it: create it here.
        pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pgdata = pgdata
        self._server: Any = get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")
        self._ensure_server_settings()

    def uri(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database))

    def ensure_database(self, name: str) -> str:
        """Create `name` if missing; return its libpq URI."""
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                # Another process may create it first.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def release(self) -> None:
        """Drop this process's claim; the last process to release stops the server."""
        self._forget_dead_processes()
        self._server.cleanup()

    def _forget_dead_processes(self) -> None:
        # pgserver counts users by pid and never forgets a process that died without its atexit
        # hook (SIGKILL, or uvicorn re-raising SIGTERM): such a pid would keep the server up.
        with self._server._lock:
            handles = self._server.global_process_id_list
            handles.put([pid for pid in handles.get() if psutil.pid_exists(pid)])

    def _ensure_server_settings(self) -> None:
        # Under pgserver's inter-process lock: a second process must not connect and start work
        # while the first one restarts the server.
        with self._server._lock:
            self._apply_server_settings()

    def _apply_server_settings(self) -> None:
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            current = {
                name: str(value)
                for name, value in conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                    (list(_SERVER_SETTINGS),),
                ).fetchall()
            }
            stale = {k: v for k, v in _SERVER_SETTINGS.items() if current.get(k) != v}
            if not stale:
                return
            for name, value in stale.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        log.info("embedded_postgres.restart", reason="server settings", settings=stale)
        # pg_ctl restart reuses the original command line (socket dir, no TCP) from postmaster.opts.
        pg_ctl(["-w", "restart"], pgdata=self.pgdata, user=self._server.system_user, timeout=60)
        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)
