from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.api.app import create_app
from mds.bootstrap import Runtime
from mds.config import Settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.security.scopes import ALL_SCOPES
from mds.security.signing import LocalSigningKey, token_claims

IssueToken = Callable[..., str]


@pytest.fixture
def issue_token(test_settings: Settings) -> IssueToken:
    """`issue_token(*scopes, **claims)`: a token the `client` app accepts, signed by the local
    key in the worker's data dir. Claims override the defaults (`sub="test-client"`, valid for
    10 minutes); a claim set to None is left out."""
    key = LocalSigningKey.load_or_create(test_settings.token_signing_key_path)

    def issue(*scopes: str, **claims: Any) -> str:
        defaults = token_claims(
            issuer=test_settings.jwt_issuer,
            audience=test_settings.jwt_audience,
            subject="test-client",
            scopes=scopes,
            ttl_seconds=600,
        )
        merged = {**defaults, **claims}
        return key.sign({name: value for name, value in merged.items() if value is not None})

    return issue


@pytest.fixture
def auth_header(issue_token: IssueToken) -> Callable[..., dict[str, str]]:
    """`auth_header(*scopes)`: per-request headers for a caller with just those scopes, e.g.
    `client.get(url, headers=auth_header(READ))` to see what a reader without PII sees."""

    def header(*scopes: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(*scopes, **claims)}"}

    return header


@pytest.fixture
def client(
    test_settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    key_provider: LocalKeyFileProvider,
    keyring: Keyring,
    issue_token: IssueToken,
) -> Iterator[TestClient]:
    """The real app on the worker's database; its writes go to the test's rolled-back
    transaction (requests are sequential, so sharing the connection is safe). It sends a token
    with every scope unless a request passes its own `Authorization` header."""

    def runtime() -> Runtime:
        return Runtime(test_settings, engine, sessions, key_provider, keyring)

    with TestClient(create_app(runtime)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {issue_token(*ALL_SCOPES)}"
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
