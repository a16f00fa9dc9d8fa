from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

SIGNAL = {
    "event_id": "api-1",
    "source_system": "signup",
    "source_record_id": "U-1",
    "event_type": "signup",
    "occurred_at": "2026-11-02T10:00:00Z",
    "attributes": {"given_name": "Ana", "family_name": "García", "email": "ana.api@example.com"},
}


def test_one_signal_gets_its_outcome(client: TestClient) -> None:
    response = client.post("/v1/signals", json=SIGNAL)
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["decision"] == "created"
    assert result["user_id"]
    again = client.post("/v1/signals", json=SIGNAL).json()["results"][0]
    assert again["decision"] == "duplicate-ignored"
    assert again["user_id"] == result["user_id"]


def test_a_batch_reports_each_signal_and_keeps_the_good_ones(client: TestClient) -> None:
    good = {**SIGNAL, "event_id": "api-2", "source_record_id": "U-2"}
    linked = {
        **SIGNAL,
        "event_id": "api-3",
        "source_system": "crm",
        "source_record_id": "C-7",
        "event_type": "crm_import",
    }
    bad = {**SIGNAL, "event_id": "api-4", "attributes": {"nickname": "Annie"}}
    response = client.post("/v1/signals", json={"signals": [good, bad, linked]})
    assert response.status_code == 200
    created, rejected, link = response.json()["results"]
    assert created["decision"] == "created"
    assert rejected["decision"] == "rejected"
    assert rejected["errors"][0]["field"] == "attributes.nickname"
    assert link["decision"] == "linked" and link["user_id"] == created["user_id"]


def test_a_malformed_single_signal_is_a_problem_naming_the_field(client: TestClient) -> None:
    body = {**SIGNAL, "occurred_at": "yesterday"}
    response = client.post("/v1/signals", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "occurred_at" in response.json()["detail"]


def test_a_body_that_is_not_signals_is_refused(client: TestClient) -> None:
    response = client.post("/v1/signals", json="hello")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_a_linked_source_says_why_it_was_linked(client: TestClient) -> None:
    [created] = client.post("/v1/signals", json=SIGNAL).json()["results"]
    crm = {**SIGNAL, "event_id": "api-5", "source_system": "crm", "source_record_id": "C-9"}
    crm["attributes"] = {**SIGNAL["attributes"], "given_name": "Anna"}  # type: ignore[dict-item]
    [linked] = client.post("/v1/signals", json=crm).json()["results"]
    assert linked["decision"] == "linked" and linked["user_id"] == created["user_id"]
    sources = client.get(f"/v1/users/{created['user_id']}/sources").json()["items"]
    by_record = {s["source_record_id"]: s["last_decision"] for s in sources}
    assert by_record["U-1"] is None, "made a user on its own: nothing was compared"
    decision = by_record["C-9"]
    assert decision["decision"] == "linked" and decision["event_id"] == "api-5"
    assert decision["score"] == linked["score"]
    fields = decision["explanation"]["fields"]
    assert fields["email"][0] == "exact" and fields["given_name"][0] != "exact"
    assert "model_version" in decision["explanation"]


def test_an_identifier_with_a_nul_is_a_problem_naming_the_field(client: TestClient) -> None:
    response = client.post("/v1/signals", json={**SIGNAL, "event_id": "api\u00001"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "event_id" and "U+0000" in error["message"]


def test_a_signal_postgresql_refuses_fails_alone(
    client: TestClient, connection: Connection
) -> None:
    connection.execute(
        text("ALTER TABLE signals ADD CONSTRAINT refuse CHECK (event_id <> 'api-poison')")
    )
    poison = {**SIGNAL, "event_id": "api-poison", "source_record_id": "U-9"}
    alone = client.post("/v1/signals", json=poison)
    assert alone.status_code == 422
    assert alone.json()["title"] == "Signal rejected"
    assert "refuse" in alone.json()["detail"]

    batch = client.post("/v1/signals", json=[SIGNAL, poison]).json()["results"]
    assert [r["decision"] for r in batch] == ["created", "rejected"]
    assert batch[1]["errors"][0]["message"].startswith("could not be stored")


def test_the_published_document_describes_the_signal_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/signals"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    single, batch, wrapped = body["oneOf"]
    ref = {"$ref": "#/components/schemas/Signal"}
    assert single == ref and batch["items"] == ref
    assert wrapped["properties"]["signals"]["items"] == ref
    schemas = spec["components"]["schemas"]
    assert set(schemas["Signal"]["required"]) == {
        "event_id",
        "source_system",
        "source_record_id",
        "event_type",
        "occurred_at",
    }
    assert "delete_request" in schemas["EventType"]["enum"]
    # The vocabulary is closed: an attribute the document does not name is refused.
    assert schemas["Attributes"]["additionalProperties"] is False
    assert "413" in operation["responses"]
