"""GET /v1/users/{id} on the event loop (mds.api.reads) answers as the threaded path does.

The `client` fixture's runtime shares one connection in a rolled-back transaction, so it reads
through the threaded path; this app is built as `mds serve` builds it, on a committed database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from mds.api.app import create_app
from mds.bootstrap import build_runtime
from mds.config import Settings
from mds.security.scopes import ALL_SCOPES, READ
from tests.e2e.api_helpers import ANA, post_signal
from tests.e2e.conftest import IssueToken


@pytest.fixture
def pool_client(
    fresh_database: str, test_settings: Settings, issue_token: IssueToken
) -> Iterator[TestClient]:
    # The worker's settings (its signing key is the one `issue_token` signs with).
    settings = test_settings.model_copy(update={"database_url": fresh_database})
    app = create_app(lambda: build_runtime(settings))
    with TestClient(app) as client:
        assert app.state.reads is not None, "a runtime of its own reads through the pool"
        client.headers["Authorization"] = f"Bearer {issue_token(*ALL_SCOPES)}"
        yield client


def test_a_golden_record_reads_the_same_through_the_pool(
    pool_client: TestClient, auth_header: Callable[..., dict[str, str]]
) -> None:
    user_id = post_signal(pool_client, "C-1", **ANA)["user_id"]
    response = pool_client.get(f"/v1/users/{user_id}")
    assert response.status_code == 200 and "content-location" not in response.headers
    body = response.json()
    assert body["id"] == user_id and body["status"] == "active" and body["version"] == 1
    assert body["resolved_from"] is None and body["pii_masked"] is False
    assert body["profile"]["given_name"] == "Ana" and body["profile"]["phone"] == "+34612345678"
    assert body["profile"]["address"]["locality"] == "Madrid"
    masked = pool_client.get(f"/v1/users/{user_id}", headers=auth_header(READ))
    assert masked.json()["pii_masked"] is True and masked.json()["profile"]["given_name"] != "Ana"


def test_unknown_and_merged_ids_through_the_pool(pool_client: TestClient) -> None:
    missing = pool_client.get(f"/v1/users/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    a = post_signal(pool_client, "C-1", **ANA)["user_id"]
    b = post_signal(pool_client, "C-2", given_name="Bob", family_name="Smith", email="b@ex.com")
    merged = pool_client.post(f"/v1/users/{a}/merge", json={"user_id": b["user_id"], "reason": "x"})
    assert merged.status_code == 200, merged.text
    response = pool_client.get(f"/v1/users/{b['user_id']}")
    assert response.status_code == 200
    assert response.json()["id"] == a and response.json()["resolved_from"] == b["user_id"]
    assert response.headers["content-location"] == f"/v1/users/{a}"
