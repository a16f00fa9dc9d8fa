from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

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


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_metrics_count_resolved_signals_by_entry_and_decision(client: TestClient) -> None:
    signal = {
        "event_id": "metrics-1",
        "source_system": "signup",
        "source_record_id": "M-1",
        "event_type": "signup",
        "occurred_at": "2026-11-02T10:00:00Z",
        "attributes": {"given_name": "Ana", "family_name": "Metz", "email": "ana.m@example.com"},
    }
    created = ("mds_signals_resolved_total", (("decision", "created"), ("entry", "api")))
    repeated = ("mds_signals_resolved_total", (("decision", "duplicate-ignored"), ("entry", "api")))
    updated = ("mds_signals_resolved_total", (("decision", "linked"), ("entry", "api")))
    batches = ("mds_resolution_batch_signals_count", (("entry", "api"),))
    batch_signals = ("mds_resolution_batch_signals_sum", (("entry", "api"),))
    before = _samples(client)

    client.post("/v1/signals", json=signal).raise_for_status()
    client.post("/v1/signals", json=[signal, {**signal, "event_id": "metrics-2"}])
    after = _samples(client)

    def grew(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew(created) == 1
    # The same event again is a duplicate; the record's next event stays on its user.
    assert grew(repeated) == 1 and grew(updated) == 1
    assert grew(batches) == 2 and grew(batch_signals) == 3
    assert ("mds_resolution_batch_seconds_count", (("entry", "api"),)) in after


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Master Data Service"
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
