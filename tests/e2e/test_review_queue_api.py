"""The review queue: listing, reading, deciding, staleness and rejected pairs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from mds.store.models import AuditLog
from tests.e2e.api_helpers import ANA, post_signal

GOV = {"type": "national_id", "country": "ES"}


def high_risk_pair(client: TestClient) -> tuple[str, str]:
    a = post_signal(client, "C-1", **{**ANA, "government_id": {**GOV, "value": "12345678Z"}})
    b = post_signal(client, "C-2", **{**ANA, "government_id": {**GOV, "value": "87654321X"}})
    assert b["decision"] == "review"
    return a["user_id"], b["user_id"]


def twins(client: TestClient) -> tuple[str, str]:
    base = {k: v for k, v in ANA.items() if k not in {"email", "government_id", "phone"}}
    a = post_signal(client, "C-1", **{**base, "given_name": "Lucía"})
    b = post_signal(client, "C-2", **{**base, "given_name": "Marta"})
    assert b["decision"] == "review", b
    return a["user_id"], b["user_id"]


def only_item(client: TestClient, **params: Any) -> dict[str, Any]:
    [item] = client.get("/v1/duplicates", params=params).json()["items"]
    assert isinstance(item, dict)
    return item


def test_items_list_with_filters_and_read_side_by_side(client: TestClient) -> None:
    a, b = high_risk_pair(client)
    item = only_item(client, risk="high")
    assert {item["user_a"], item["user_b"]} == {a, b} and item["status"] == "open"
    assert client.get("/v1/duplicates", params={"risk": "normal"}).json()["items"] == []
    assert client.get("/v1/duplicates", params={"status": "merged"}).json()["items"] == []
    assert (
        client.get("/v1/duplicates", params={"opened_before": "2000-01-01T00:00:00Z"}).json()[
            "items"
        ]
        == []
    )
    detail = client.get(f"/v1/duplicates/{item['id']}").json()
    assert detail["users"]["user_a"]["id"] == item["user_a"]
    assert detail["users"]["user_b"]["profile"]["given_name"] == "Ana"
    assert "different valid government ids" in " ".join(detail["explanation"]["reasons"])
    bad = client.get("/v1/duplicates", params={"risk": "extreme"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.risk"


def test_a_high_risk_merge_needs_confirmation_and_is_audited(
    client: TestClient, db_session: Session
) -> None:
    a, b = high_risk_pair(client)
    item = only_item(client)
    url = f"/v1/duplicates/{item['id']}/decision"
    unconfirmed = client.post(url, json={"decision": "merge", "reason": "same passport photo"})
    assert unconfirmed.status_code == 422
    assert unconfirmed.json()["errors"][0]["field"] == "confirm"
    decided = client.post(
        url, json={"decision": "merge", "reason": "same passport photo", "confirm": True}
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["item"]["status"] == "merged" and body["survivor_id"] == a
    assert client.get(f"/v1/users/{b}").json()["id"] == a
    [entry] = db_session.scalars(
        select(AuditLog).where(AuditLog.action == "duplicate.decided")
    ).all()
    assert entry.details["reason"] == "same passport photo" and entry.details["confirmed"]
    assert entry.details["versions_seen"] == [item["user_a_version"], item["user_b_version"]]
    assert entry.actor and entry.entity_id == item["id"]
    twice = client.post(url, json={"decision": "reject", "reason": "oops"})
    assert twice.status_code == 409


def test_a_rejected_pair_is_not_proposed_again_without_new_evidence(client: TestClient) -> None:
    a, b = twins(client)
    item = only_item(client)
    response = client.post(
        f"/v1/duplicates/{item['id']}/decision",
        json={"decision": "reject", "reason": "twins"},
    )
    assert response.status_code == 200 and response.json()["item"]["status"] == "rejected"
    # The same twin is sent again by another source: same evidence, no new item.
    base = {k: v for k, v in ANA.items() if k not in {"email", "government_id", "phone"}}
    again = post_signal(client, "S-1", source="support", **{**base, "given_name": "Marta"})
    assert again["user_id"] in {a, b}
    assert client.get("/v1/duplicates").json()["items"] == []
    assert only_item(client, status="rejected")["reason"] == "twins"


def test_an_item_goes_stale_when_a_user_changes(client: TestClient) -> None:
    twins(client)
    item = only_item(client)
    base = {k: v for k, v in ANA.items() if k not in {"email", "government_id", "phone"}}
    post_signal(
        client, "C-1", at="2026-11-04T10:00:00Z", **{**base, "given_name": "Lucía", "locale": "es"}
    )
    stale = only_item(client, status="stale")
    assert stale["id"] == item["id"]
    response = client.post(
        f"/v1/duplicates/{item['id']}/decision", json={"decision": "merge", "reason": "x"}
    )
    assert response.status_code == 409


def test_a_decision_on_versions_the_steward_did_not_see_is_refused(client: TestClient) -> None:
    twins(client)
    item = only_item(client)
    response = client.post(
        f"/v1/duplicates/{item['id']}/decision",
        json={
            "decision": "merge",
            "reason": "x",
            "user_a_version": item["user_a_version"] + 1,
            "user_b_version": item["user_b_version"],
        },
    )
    assert response.status_code == 409
    assert only_item(client)["status"] == "open"


def test_metrics_show_the_open_review_items_by_risk(client: TestClient) -> None:
    def backlog() -> dict[str, float]:
        families = text_string_to_metric_families(client.get("/metrics").text)
        return {
            sample.labels["risk"]: sample.value
            for family in families
            for sample in family.samples
            if sample.name == "mds_review_items_open"
        }

    assert backlog() == {"high": 0, "normal": 0}
    high_risk_pair(client)
    assert backlog() == {"high": 1, "normal": 0}
    item = only_item(client, risk="high")
    decided = client.post(
        f"/v1/duplicates/{item['id']}/decision",
        json={"decision": "reject", "reason": "two passports, two people", "confirm": True},
    )
    assert decided.status_code == 200, decided.text
    assert backlog() == {"high": 0, "normal": 0}
