from pathlib import Path

from fastapi.testclient import TestClient

from mds.api.app import create_app
from mds.bootstrap import build_runtime
from mds.store import migrate
from tests.integration.helpers import settings_for


def test_healthz_answers_and_echoes_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "probe-123"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "probe-123"


def test_a_request_id_is_made_when_none_or_an_unsafe_one_is_sent(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"]
    assert unsafe != "a b\tc" and len(unsafe) == 32


def test_readyz_reports_database_and_migrations_at_head(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["migrations"]["current"] == body["migrations"]["head"] == migrate.head_revision()


def test_readyz_is_not_ready_when_migrations_are_behind(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = settings_for(fresh_database, tmp_path, auto_migrate=False)

    def runtime_behind_head():  # type: ignore[no-untyped-def]
        runtime = build_runtime(settings, run_migrations=True)
        migrate.downgrade(runtime.engine, settings, "base")
        return runtime

    # Keys need their table, so migrate, load keys, then step back below head.
    with TestClient(create_app(runtime_behind_head)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["current"] is None
    assert response.json()["head"] == migrate.head_revision()


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'mds_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "mds_http_request_duration_seconds_bucket" in body


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Master Data Service"
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
