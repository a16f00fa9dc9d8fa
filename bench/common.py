"""Shared helpers for benchmarks: timing percentiles, peak memory, a database to run against."""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings, load_settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import migrate
from mds.store.database import make_engine, sqlalchemy_url
from mds.store.embedded import EmbeddedPostgres


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (of one sample: that sample)."""
    if len(samples_s) == 1:
        return samples_s[0] * 1000, samples_s[0] * 1000
    cuts = statistics.quantiles(samples_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def time_each(operation: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return samples


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def bench_database() -> Iterator[str]:
    """MDS_BENCH_DATABASE_URL if set, else a throwaway embedded server (SQLAlchemy URL)."""
    external = os.environ.get("MDS_BENCH_DATABASE_URL")
    if external:
        yield sqlalchemy_url(external)
        return
    with tempfile.TemporaryDirectory(prefix="mds-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", delete_on_exit=True)
        try:
            yield sqlalchemy_url(server.ensure_database("bench"))
        finally:
            server.release()


@dataclass
class Store:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring


def open_store(url: str, data_dir: Path) -> Store:
    """Settings, engine at migration head, session factory and keyring for a bench database."""
    settings = load_settings(database_url=url, data_dir=data_dir)
    engine = make_engine(url, settings)
    migrate.upgrade(engine, settings)
    sessions = sessionmaker(engine, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(settings.key_file_path))
    return Store(settings, engine, sessions, keyring)


def bearer_token(env: dict[str, str], *scopes: str) -> str:
    """A token from `mds token issue` in that environment (the last line of its output)."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    result = subprocess.run(
        [sys.executable, "-m", "mds", "token", "issue", *args],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def _process_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """CPU seconds (user + system) of a process from /proc, optionally with its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds a process and its children have used so far: its own, its children's that
    exited (reaped) and those still running (Linux only)."""
    total = _process_seconds(pid, with_reaped_children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                total += _process_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # exited meanwhile: the parent's reaped total has it
    return total


def server_cpu_seconds(pgdata: Path) -> float:
    """CPU seconds PostgreSQL has used so far: the postmaster, the backends that exited and
    the processes still running (backends, WAL writer, checkpointer). Differences of this
    count the database's share of a measured run, whatever else the machine is doing."""
    return tree_cpu_seconds(int((pgdata / "postmaster.pid").read_text().split()[0]))


def wal_written(url: str) -> tuple[int, int]:
    """Bytes of WAL and full-page images written by the server so far. The bytes are the WAL
    position; the images come from pg_stat_wal, which a backend reports when it exits or at
    most once a second, so `mds` backends that are still closing are waited for (up to 5 s)."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mds'"
        ).fetchone() != (0,):
            time.sleep(0.05)
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, wal_fpi FROM pg_stat_wal"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


RUN_DATABASE = "bench_run"


@dataclass
class PreloadedStore:
    """A preloaded database kept as a template and cloned for each measured run, so that every
    run starts from the same store. `directory` holds the embedded server and the key file;
    keep it between invocations to skip the preload (a 1M-user preload takes many minutes, a
    clone well under one). Only for benchmarks: the directory holds test data and its keys."""

    directory: Path
    template: str
    server: EmbeddedPostgres

    @classmethod
    @contextmanager
    def open(cls, directory: Path, template: str) -> Iterator[PreloadedStore]:
        server = EmbeddedPostgres(directory / "pgdata")
        try:
            yield cls(directory, template, server)
        finally:
            server.release()

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def has_preload(self) -> bool:
        with psycopg.connect(self.server.uri(), autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.template,)
            ).fetchone()
        return found is not None

    def fresh_run(self) -> str:
        """A new run database, a clone of the preload if there is one (SQLAlchemy URL)."""
        source = f' TEMPLATE "{self.template}"' if self.has_preload() else ""
        with psycopg.connect(self.server.uri(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{RUN_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{RUN_DATABASE}"{source} STRATEGY FILE_COPY')
        return sqlalchemy_url(self.server.uri(RUN_DATABASE))

    def save_preload(self) -> None:
        """Keep the run database, as it is now, as the preload (no one may be connected)."""
        with psycopg.connect(self.server.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.template}" TEMPLATE "{RUN_DATABASE}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
