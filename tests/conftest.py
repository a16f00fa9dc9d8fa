"""Test fixtures: a real PostgreSQL (embedded by default, or MDS_TEST_DATABASE_URL), one
database per xdist worker migrated to head, and a rolled-back transaction per test.

The layout follows pypi/warehouse: the server is shared, each worker owns a database, and each
test runs inside an outer transaction whose commits are savepoints.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings, load_settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import migrate
from mds.store.database import make_engine, sqlalchemy_url
from mds.store.embedded import EmbeddedPostgres
from mds.streaming.tansu import LocalBroker


@dataclass
class DatabaseServer:
    """Creates and drops databases on one server; URLs are libpq style."""

    admin_url: str

    def url_for(self, name: str) -> str:
        parsed = make_url(self.admin_url).set(database=name)
        return parsed.render_as_string(hide_password=False)

    def create(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    external = os.environ.get("MDS_TEST_DATABASE_URL")
    if external:
        yield DatabaseServer(external)
        return
    # Under xdist the parent of basetemp is this run's and shared by its workers: one embedded
    # server per run. Without xdist that parent is shared by every run: use basetemp itself.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    server = EmbeddedPostgres(shared / "pgdata", delete_on_exit=True)
    yield DatabaseServer(server.uri())
    server.release()


@pytest.fixture(scope="session")
def worker_database(database_server: DatabaseServer, worker_id: str) -> Iterator[str]:
    """This worker's database at migration head (libpq URL)."""
    name = f"mds_test_{worker_id}"
    url = database_server.create(name)
    yield url
    database_server.drop(name)


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory: pytest.TempPathFactory, worker_database: str) -> Settings:
    return load_settings(database_url=worker_database, data_dir=tmp_path_factory.mktemp("mds-data"))


@pytest.fixture(scope="session")
def engine(test_settings: Settings) -> Iterator[Engine]:
    assert test_settings.database_url is not None
    engine = make_engine(sqlalchemy_url(test_settings.database_url), test_settings)
    migrate.upgrade(engine, test_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that is rolled back after the test."""
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """A session factory whose commits become savepoints of the test's transaction."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def key_provider(test_settings: Settings) -> LocalKeyFileProvider:
    """The worker's KEK file: keys committed by app tests in the worker database need it."""
    return LocalKeyFileProvider(test_settings.key_file_path)


@pytest.fixture
def keyring(sessions: sessionmaker[Session], key_provider: LocalKeyFileProvider) -> Keyring:
    return load_keyring(sessions, key_provider)


@pytest.fixture
def fresh_database(database_server: DatabaseServer) -> Iterator[str]:
    """An empty database of its own, for tests that must really commit (libpq URL)."""
    name = f"mds_fresh_{uuid.uuid4().hex[:12]}"
    url = database_server.create(name)
    yield url
    database_server.drop(name)


@pytest.fixture
def fresh_engine(fresh_database: str, tmp_path: Path) -> Iterator[Engine]:
    settings = load_settings(database_url=fresh_database, data_dir=tmp_path)
    engine = make_engine(sqlalchemy_url(fresh_database), settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def kafka_brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker: KAFKA_BROKERS if set, else a Tansu process of our own
    (one per xdist worker; tests isolate themselves with topics and groups of their own)."""
    external = os.environ.get("KAFKA_BROKERS")
    if external:
        yield external
        return
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    broker = LocalBroker.start(log)
    yield broker.bootstrap_servers
    broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Topics of this test only: `<prefix>.user`, `<prefix>.signals`, …"""
    return f"t{uuid.uuid4().hex[:10]}"
