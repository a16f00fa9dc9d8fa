"""Reading golden records: by id, lookups, sources, lineage, history, comparison, paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from mds.security.scopes import READ, READ_PII, WRITE
from tests.e2e.api_helpers import ANA, post_signal

PROBLEM = "application/problem+json"


def test_a_user_reads_back_with_status_version_and_profile(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    response = client.get(f"/v1/users/{created['user_id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["user_id"]
    assert body["status"] == "active" and body["version"] == 1
    assert body["resolved_from"] is None and "content-location" not in response.headers
    profile = body["profile"]
    assert profile["given_name"] == "Ana" and profile["family_name"] == "García"
    assert profile["email"] == "ana.garcia@example.com"
    assert profile["phone"] == "+34612345678"
    assert profile["address"]["locality"] == "Madrid"


def test_an_unknown_or_malformed_id_is_a_problem(client: TestClient) -> None:
    missing = client.get(f"/v1/users/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    malformed = client.get("/v1/users/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "path.user_id"


def test_lookup_normalizes_the_query_like_ingestion(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    post_signal(client, "C-2", given_name="Bob", family_name="Smith", email="bob@example.com")
    by_email = client.get("/v1/users", params={"email": "  ANA.Garcia@Example.COM "}).json()
    assert [u["id"] for u in by_email["items"]] == [created["user_id"]]
    by_phone = client.get("/v1/users", params={"phone": "+34 612-34-56-78"}).json()
    assert [u["id"] for u in by_phone["items"]] == [created["user_id"]]
    by_source = client.get(
        "/v1/users", params={"source_system": "crm", "source_record_id": "C-1"}
    ).json()
    assert [u["id"] for u in by_source["items"]] == [created["user_id"]]
    nobody = client.get("/v1/users", params={"email": "nobody@example.com"}).json()
    assert nobody["items"] == []


def test_lookup_refuses_bad_or_missing_criteria_naming_them(client: TestClient) -> None:
    bad = client.get("/v1/users", params={"phone": "call me"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"
    half = client.get("/v1/users", params={"source_system": "crm"})
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "source_record_id"
    none = client.get("/v1/users")
    assert none.status_code == 422 and none.headers["content-type"] == PROBLEM


def test_sources_show_raw_attributes_issues_and_link(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    post_signal(
        client,
        "S-9",
        source="support",
        event_type="support_update",
        **{**ANA, "date_of_birth": "1990-13-01"},
    )
    body = client.get(f"/v1/users/{created['user_id']}/sources").json()
    by_source = {s["source_system"]: s for s in body["items"]}
    assert set(by_source) == {"crm", "support"}
    support = by_source["support"]
    assert support["attributes"]["date_of_birth"] == "1990-13-01"  # raw value kept
    assert support["quality_issues"][0]["attribute"] == "date_of_birth"
    assert support["link_kind"] == "auto" and support["match_score"] is not None


def test_lineage_names_the_winning_source_and_keeps_superseded_rows(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    user_id = created["user_id"]
    post_signal(client, "C-1", at="2026-11-03T10:00:00Z", **{**ANA, "phone": "+34 699 000 111"})
    items = client.get(f"/v1/users/{user_id}/lineage").json()["items"]
    phone = [i for i in items if i["attribute"] == "phone"]
    assert [p["current"] for p in phone] == [True, False]
    assert phone[0]["source_system"] == "crm" and phone[0]["source_record_id"] == "C-1"
    assert phone[0]["observed_at"].startswith("2026-11-03")
    assert phone[1]["superseded_at"] is not None
    assert phone[0]["value_digest"] != phone[1]["value_digest"]


def test_history_tells_created_and_updated_without_pii(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    user_id = created["user_id"]
    post_signal(client, "C-1", at="2026-11-03T10:00:00Z", **{**ANA, "phone": "+34 699 000 111"})
    response = client.get(f"/v1/users/{user_id}/history")
    items = response.json()["items"]
    assert [i["action"] for i in items] == ["user.created", "user.updated"]
    assert items[1]["details"] == {"version": 2, "changed": ["phone"]}
    assert "699000111" not in response.text and "Ana" not in response.text


def test_lists_page_with_stable_cursors(client: TestClient) -> None:
    created = post_signal(client, "C-1", **ANA)
    user_id = created["user_id"]
    for n in range(2, 6):
        post_signal(client, f"C-{n}", at=f"2026-11-0{n}T10:00:00Z", **ANA)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/users/{user_id}/sources", params=params).json()
        seen += [s["source_record_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["C-1", "C-2", "C-3", "C-4", "C-5"] and len(seen) == 5
    bad = client.get(f"/v1/users/{user_id}/sources", params={"cursor": "garbage!"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_compare_explains_why_and_why_not(client: TestClient) -> None:
    ana = post_signal(client, "C-1", **ANA)
    twin = post_signal(
        client,
        "C-2",
        **{**ANA, "given_name": "Lucía", "email": "lucia@example.com", "government_id": None},
    )
    assert twin["user_id"] != ana["user_id"]
    body = client.get(f"/v1/users/{ana['user_id']}/compare/{twin['user_id']}").json()
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["given_name"]["level"] == "different" and fields["given_name"]["weight"] < 0
    assert fields["date_of_birth"]["level"] == "exact" and fields["date_of_birth"]["weight"] > 0
    assert "given names differ" in body["guards"]
    assert body["verdict"] != "link"
    assert body["profiles"]["user_b"]["given_name"] == "Lucía"


def test_without_the_pii_scope_every_pii_field_is_masked(
    client: TestClient, auth_header: Callable[..., dict[str, str]]
) -> None:
    created = post_signal(client, "C-1", **ANA)
    user_id = created["user_id"]
    reader = auth_header(READ)
    body = client.get(f"/v1/users/{user_id}", headers=reader).json()
    assert body["pii_masked"] is True
    profile = body["profile"]
    assert profile["given_name"] == "A***" and profile["family_name"] == "G***"
    assert profile["email"] == "a***@example.com" and profile["phone"] == "***78"
    assert profile["date_of_birth"] == "1990-**-**"
    assert profile["address"] == {"locality": "Madrid", "country": "ES"}
    assert profile["government_id"]["value"] == "***8Z"
    sources = client.get(f"/v1/users/{user_id}/sources", headers=reader)
    compared = client.get(f"/v1/users/{user_id}/compare/{user_id}", headers=reader)
    for response in (sources, compared):
        assert response.status_code == 200
        for secret in ("Ana", "García", "ana.garcia", "612345678", "1990-04-01", "12345678Z"):
            assert secret not in response.text, (response.url, secret)
    full = client.get(f"/v1/users/{user_id}", headers=auth_header(READ_PII)).json()
    assert full["pii_masked"] is False and full["profile"]["given_name"] == "Ana"


def test_reading_needs_a_read_scope(
    client: TestClient, auth_header: Callable[..., dict[str, str]]
) -> None:
    created = post_signal(client, "C-1", **ANA)
    writer_only = client.get(f"/v1/users/{created['user_id']}", headers=auth_header(WRITE))
    assert writer_only.status_code == 403 and "mds:read" in writer_only.json()["detail"]
    anonymous = client.get(f"/v1/users/{created['user_id']}", headers={"Authorization": ""})
    assert anonymous.status_code == 401
