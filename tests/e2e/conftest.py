from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.api.app import create_app
from mds.bootstrap import Runtime
from mds.config import Settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider


@pytest.fixture
def client(
    test_settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    key_provider: LocalKeyFileProvider,
    keyring: Keyring,
) -> Iterator[TestClient]:
    """The real app on the worker's database; its writes go to the test's rolled-back
    transaction (requests are sequential, so sharing the connection is safe)."""

    def runtime() -> Runtime:
        return Runtime(test_settings, engine, sessions, key_provider, keyring)

    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def cli_env(fresh_database: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running `mds` in a subprocess against a fresh database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
    env.update(DATABASE_URL=fresh_database, MDS_DATA_DIR=str(tmp_path / "data"))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
