"""When the database cannot answer now: a 503 with Retry-After, never a 500. For POST
/v1/signals nothing is lost either (the same request sent again is answered as if it had been
sent once).

The app is built as `mds serve` builds it, on a database of its own, which the tests make
unreachable (no connections allowed) or hold up (a table lock) for real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from mds.api.app import create_app
from mds.api.routes import signals as signals_route
from mds.bootstrap import build_runtime
from mds.config import Settings
from mds.security.scopes import ALL_SCOPES
from mds.services.ingest import IngestService
from mds.services.transactions import ConcurrentChangeError
from tests.conftest import DatabaseServer
from tests.e2e.api_helpers import ANA
from tests.e2e.conftest import IssueToken


def body(n: int) -> dict[str, Any]:
    return {
        "event_id": f"unavailable-{n}",
        "source_system": "crm",
        "source_record_id": f"C-{n}",
        "event_type": "crm_import",
        "occurred_at": "2026-11-01T10:00:00Z",
        "attributes": {**ANA, "email": f"ana{n}@example.com"},
    }


def client_for(settings: Settings, token: str) -> TestClient:
    client = TestClient(create_app(lambda: build_runtime(settings)))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def own_client(
    fresh_database: str, test_settings: Settings, issue_token: IssueToken
) -> Iterator[TestClient]:
    settings = test_settings.model_copy(
        update={
            "database_url": fresh_database,
            "api_max_pending_signals": 1,
            "db_pool_timeout_seconds": 1.0,
        }
    )
    with client_for(settings, issue_token(*ALL_SCOPES)) as client:
        yield client


def assert_unavailable(response: httpx.Response, title: str, retry_after: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == retry_after
    assert response.json()["title"] == title
    assert "retry the same request later" in response.json()["detail"]


class TableLock:
    """`signals` locked by another session, so that resolutions wait at their inbox insert."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url)
        self._conn.execute("LOCK TABLE signals IN ACCESS EXCLUSIVE MODE")

    def waiters(self) -> int:
        """Sessions of this database waiting for a lock."""
        row = self._conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return int(row[0]) if row else 0

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()


@contextmanager
def database_away(database_server: DatabaseServer, url: str) -> Iterator[None]:
    """No connection to the database is allowed, and those open are cut, until the block ends."""
    name = make_url(url).database
    with psycopg.connect(database_server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_a_database_that_is_away_answers_503_and_the_retry_is_resolved(
    own_client: TestClient, fresh_database: str, database_server: DatabaseServer
) -> None:
    with database_away(database_server, fresh_database):
        away = own_client.post("/v1/signals", json=body(1))
    assert_unavailable(away, "Database unavailable", "5")

    retried = own_client.post("/v1/signals", json=body(1))
    assert retried.status_code == 200, retried.text
    assert retried.json()["results"][0]["decision"] == "created"


def test_reads_answer_503_while_the_database_is_away(
    own_client: TestClient, fresh_database: str, database_server: DatabaseServer
) -> None:
    created = own_client.post("/v1/signals", json=body(1)).json()["results"][0]
    user = f"/v1/users/{created['user_id']}"
    assert own_client.get(user).status_code == 200
    with database_away(database_server, fresh_database):
        # Through the event loop's read pool, and through SQLAlchemy in the thread pool.
        for path in (user, f"/v1/users/{created['user_id']}/lineage", "/v1/duplicates"):
            response = own_client.get(path)
            assert_unavailable(response, "Database unavailable", "5")
    # Back: the read pool reconnects on its own (with a backoff of a second or more).
    wait_until(lambda: own_client.get(user).status_code == 200)


def test_a_resolution_that_outlasts_the_timeout_answers_503_and_finishes_anyway(
    own_client: TestClient, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals_route, "RESOLUTION_TIMEOUT_S", 0.5)
    lock = TableLock(fresh_database)
    try:
        late = own_client.post("/v1/signals", json=body(1))
    finally:
        lock.release()
    assert_unavailable(late, "Resolution timed out", "5")

    # Its batch had started, so it went on once the lock was gone: the retry finds it done.
    monkeypatch.setattr(signals_route, "RESOLUTION_TIMEOUT_S", 60.0)
    retried = own_client.post("/v1/signals", json=body(1))
    assert retried.status_code == 200, retried.text
    [outcome] = retried.json()["results"]
    assert outcome["decision"] == "duplicate-ignored" and outcome["user_id"]


def test_signals_beyond_the_waiting_bound_are_refused_at_once_and_the_rest_resolved(
    own_client: TestClient, fresh_database: str
) -> None:
    # api_max_pending_signals is 1 here: one request is resolving (held at the lock), one
    # waits behind it, and a third finds the queue full.
    lock = TableLock(fresh_database)
    responses: dict[int, httpx.Response] = {}

    def post(n: int) -> None:
        responses[n] = own_client.post("/v1/signals", json=body(n))

    try:
        held = threading.Thread(target=post, args=(1,))
        held.start()
        wait_until(lambda: lock.waiters() == 1)  # taken into a batch, which waits at the lock
        queued = threading.Thread(target=post, args=(2,))
        queued.start()
        wait_until(lambda: _waiting(own_client) == 1)
        assert pending_gauge(own_client) == 1  # what an operator sees of the queue
        refused = own_client.post("/v1/signals", json=body(3))
    finally:
        lock.release()
    held.join(10)
    queued.join(10)
    assert_unavailable(refused, "Too many signals waiting", "1")
    assert "1 signals are waiting" in refused.json()["detail"]
    assert [responses[n].json()["results"][0]["decision"] for n in (1, 2)] == [
        "created",
        "linked",
    ]
    retried = own_client.post("/v1/signals", json=body(3))
    assert retried.json()["results"][0]["decision"] == "linked"
    assert pending_gauge(own_client) == 0


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def pending_gauge(client: TestClient) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "mds_api_pending_signals":
                return float(sample.value)
    raise AssertionError("mds_api_pending_signals is not exposed")


def _waiting(client: TestClient) -> int:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return int(runtime.api_group_commit().pending)


def test_contention_that_outlasts_the_retries_answers_503_busy(
    own_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def contended(self: IngestService, *args: Any, **kwargs: Any) -> None:
        raise ConcurrentChangeError("what the batch read kept changing")

    monkeypatch.setattr(IngestService, "ingest", contended)
    assert_unavailable(own_client.post("/v1/signals", json=body(1)), "Busy", "1")
    monkeypatch.undo()
    assert own_client.post("/v1/signals", json=body(1)).json()["results"][0]["decision"] == (
        "created"
    )


def test_a_request_that_finds_no_free_connection_answers_503(
    fresh_database: str, test_settings: Settings, issue_token: IssueToken
) -> None:
    # One connection and one overflow, both taken: a route on SQLAlchemy waits 1 s, then 503.
    settings = test_settings.model_copy(
        update={"database_url": fresh_database, "db_pool_size": 1, "db_pool_timeout_seconds": 1}
    )
    with client_for(settings, issue_token(*ALL_SCOPES)) as client:
        engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
        taken = [engine.connect(), engine.connect()]
        try:
            assert_unavailable(client.get("/v1/duplicates"), "Database unavailable", "5")
        finally:
            for connection in taken:
                connection.close()
        assert client.get("/v1/duplicates").status_code == 200
