"""Merge, unmerge, split and erase through the API: records, events, trail and PII."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mds.store.models import AttributeLineage, CanonicalProfile, Outbox, SourceIdentity
from tests.e2e.api_helpers import ANA, post_signal

BOB = {
    "given_name": "Roberto",
    "family_name": "Núñez",
    "email": "roberto@example.org",
    "date_of_birth": "1985-07-12",
}


def user(client: TestClient, user_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/users/{user_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events(session: Session, user_id: str) -> list[str]:
    rows = session.scalars(
        select(Outbox.type).where(Outbox.aggregateid == user_id).order_by(Outbox.seq)
    )
    return list(rows)


def merge(client: TestClient, into: str, other: str) -> dict[str, Any]:
    response = client.post(
        f"/v1/users/{into}/merge", json={"user_id": other, "reason": "same person"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_merge_moves_identities_and_the_merged_id_answers_with_the_survivor(
    client: TestClient, db_session: Session
) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    b = post_signal(client, "C-2", **BOB)["user_id"]
    body = merge(client, a, b)
    assert body["user_id"] == a and body["other_user_id"] == b and body["merge_event_id"]
    response = client.get(f"/v1/users/{b}")
    assert response.status_code == 200
    assert response.json()["id"] == a and response.json()["resolved_from"] == b
    assert response.headers["content-location"] == f"/v1/users/{a}"
    sources = client.get(f"/v1/users/{a}/sources").json()["items"]
    assert {s["source_record_id"] for s in sources} == {"C-1", "C-2"}
    assert events(db_session, b)[-1] == "user.merged"
    assert events(db_session, a)[-1] == "user.merged"
    history = [h["action"] for h in client.get(f"/v1/users/{a}/history").json()["items"]]
    assert history == ["user.created", "user.merge"]


def test_merge_refuses_itself_unknown_and_merged_users(client: TestClient) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    b = post_signal(client, "C-2", **BOB)["user_id"]
    same = client.post(f"/v1/users/{a}/merge", json={"user_id": a, "reason": "x"})
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "user_id"
    unknown = client.post(
        f"/v1/users/{a}/merge", json={"user_id": str(uuid.uuid4()), "reason": "x"}
    )
    assert unknown.status_code == 404
    no_reason = client.post(f"/v1/users/{a}/merge", json={"user_id": b})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    merge(client, a, b)
    again = client.post(f"/v1/users/{a}/merge", json={"user_id": b, "reason": "x"})
    assert again.status_code == 409 and "merged into" in again.json()["detail"]


def test_unmerge_restores_both_users_exactly(client: TestClient, db_session: Session) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    b = post_signal(client, "C-2", **BOB)["user_id"]
    before_a, before_b = user(client, a), user(client, b)
    merge(client, a, b)
    response = client.post(f"/v1/users/{b}/unmerge", json={"reason": "two people"})
    assert response.status_code == 200, response.text
    after_a, after_b = user(client, a), user(client, b)
    assert after_b["status"] == "active" and after_b["resolved_from"] is None
    assert after_a["profile"] == before_a["profile"]
    assert after_b["profile"] == before_b["profile"]
    assert after_b["version"] > before_b["version"]
    assert {
        s["source_record_id"] for s in client.get(f"/v1/users/{b}/sources").json()["items"]
    } == {"C-2"}
    assert events(db_session, b)[-1] == "user.unmerged"
    assert events(db_session, a)[-1] == "user.unmerged"
    # Lineage of the restored user points at its own identity again.
    lineage = client.get(f"/v1/users/{b}/lineage").json()["items"]
    assert {i["source_record_id"] for i in lineage if i["current"]} == {"C-2"}
    again = client.post(f"/v1/users/{b}/unmerge", json={"reason": "again"})
    assert again.status_code == 404


def test_unmerge_after_later_updates_re_survives_what_arrived(client: TestClient) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    b = post_signal(client, "C-2", **BOB)["user_id"]
    merge(client, a, b)
    # While merged, Roberto's record gets a new phone and a new record arrives for the merged user.
    post_signal(client, "C-2", at="2026-11-05T10:00:00Z", **{**BOB, "phone": "+34 611 222 333"})
    response = client.post(f"/v1/users/{a}/unmerge", json={"user_id": b, "reason": "split"})
    assert response.status_code == 200, response.text
    restored = user(client, b)
    assert restored["profile"]["phone"] == "+34611222333"
    assert user(client, a)["profile"]["phone"] == "+34612345678"


def test_an_unmerged_pair_is_not_merged_back_by_the_next_signal(client: TestClient) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    b = post_signal(client, "S-1", source="support", **{**ANA, "phone": None})["user_id"]
    assert a == b  # one person, linked automatically
    sources = client.get(f"/v1/users/{a}/sources").json()["items"]
    support = next(s for s in sources if s["source_system"] == "support")
    split = client.post(
        f"/v1/users/{a}/split",
        json={"source_identity_id": support["id"], "reason": "not the same Ana"},
    )
    assert split.status_code == 200, split.text
    new_user = split.json()["user_id"]
    assert new_user != a and split.json()["user"]["status"] == "active"
    again = post_signal(
        client,
        "S-1",
        source="support",
        at="2026-11-06T10:00:00Z",
        **{**ANA, "locale": "es-ES"},
    )
    assert again["user_id"] == new_user
    assert {
        s["source_record_id"] for s in client.get(f"/v1/users/{a}/sources").json()["items"]
    } == {"C-1"}


def test_split_refuses_a_foreign_or_only_identity(client: TestClient) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    [only] = client.get(f"/v1/users/{a}/sources").json()["items"]
    lone = client.post(
        f"/v1/users/{a}/split", json={"source_identity_id": only["id"], "reason": "x"}
    )
    assert lone.status_code == 409
    foreign = client.post(
        f"/v1/users/{a}/split", json={"source_identity_id": str(uuid.uuid4()), "reason": "x"}
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "source_identity_id"


def test_erasure_destroys_pii_and_keeps_the_fact(client: TestClient, db_session: Session) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    post_signal(client, "S-1", source="support", **{**ANA, "phone": None})
    response = client.delete(f"/v1/users/{a}", params={"reason": "GDPR art. 17"})
    assert response.status_code == 200 and response.json()["status"] == "erased"
    erased = user(client, a)
    assert erased["status"] == "erased"
    assert all(v in (None, {}) for v in erased["profile"].values())
    assert client.get(f"/v1/users/{a}/sources").json()["items"] == []
    identities = db_session.scalars(
        select(SourceIdentity).where(SourceIdentity.source_record_id.in_(["C-1", "S-1"]))
    ).all()
    assert len(identities) == 2
    assert all(i.attributes_enc is None and i.match_record_enc is None for i in identities)
    assert all(i.user_id is None and i.erased_at is not None for i in identities)
    profile = db_session.get(CanonicalProfile, uuid.UUID(a))
    assert profile is not None and profile.given_name_enc is None and profile.email_enc is None
    digests = db_session.scalars(
        select(AttributeLineage.value_digest).where(AttributeLineage.user_id == uuid.UUID(a))
    ).all()
    assert digests and all(d is None for d in digests)
    payloads = db_session.scalars(select(Outbox.payload).where(Outbox.aggregateid == a)).all()
    assert all("profile_enc" not in p for p in payloads)
    assert events(db_session, a)[-1] == "user.erased"
    history = client.get(f"/v1/users/{a}/history")
    assert [h["action"] for h in history.json()["items"]][-2:] == [
        "user.erasure_requested",
        "user.erased",
    ]
    assert "García" not in history.text and "ana.garcia" not in history.text
    lookup = client.get("/v1/users", params={"email": ANA["email"]}).json()
    assert lookup["items"] == []
    repeat = client.delete(f"/v1/users/{a}")
    assert repeat.status_code == 200


def test_a_source_record_after_erasure(client: TestClient) -> None:
    """Signals that happened before the erasure stay ignored; a later one starts a new life."""
    a = post_signal(client, "C-1", **ANA)["user_id"]
    assert client.delete(f"/v1/users/{a}").status_code == 200
    late = post_signal(client, "C-1", at="2026-11-02T10:00:00Z", **ANA)
    assert late["decision"] == "ignored" and late["user_id"] is None
    after = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()  # within the skew allowed
    reborn = post_signal(client, "C-1", at=after, **ANA)
    assert reborn["decision"] == "created" and reborn["user_id"] != a


def test_suspending_a_user_emits_a_status_change_and_still_matches(
    client: TestClient, db_session: Session
) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    response = client.post(f"/v1/users/{a}/status", json={"status": "suspended", "reason": "fraud"})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["status"] == "suspended"
    assert events(db_session, a)[-1] == "user.status_changed"
    # Another record of the same person still links to the suspended user, and survives into it.
    linked = post_signal(client, "S-1", source="support", **{**ANA, "locale": "es-ES"})
    assert linked["user_id"] == a
    assert user(client, a)["profile"]["locale"] == "es-ES"
    back = client.post(f"/v1/users/{a}/status", json={"status": "active", "reason": "cleared"})
    assert back.json()["user"]["status"] == "active"
    history = [h["action"] for h in client.get(f"/v1/users/{a}/history").json()["items"]]
    assert history.count("user.status_changed") == 2
    bad = client.post(f"/v1/users/{a}/status", json={"status": "erased", "reason": "x"})
    assert bad.status_code == 422


def test_another_users_ids_in_the_path_are_refused(client: TestClient) -> None:
    a = post_signal(client, "C-1", **ANA)["user_id"]
    post_signal(client, "S-1", source="support", **{**ANA, "phone": None})
    b = post_signal(client, "C-2", **BOB)["user_id"]
    [bobs] = client.get(f"/v1/users/{b}/sources").json()["items"]
    split = client.post(
        f"/v1/users/{a}/split", json={"source_identity_id": bobs["id"], "reason": "x"}
    )
    assert split.status_code == 422
    assert split.json()["errors"][0]["field"] == "source_identity_id"
    assert client.get(f"/v1/users/{b}/sources").json()["items"][0]["id"] == bobs["id"]
    # Unmerging a pair that was never merged names no merge to undo.
    unmerge = client.post(f"/v1/users/{a}/unmerge", json={"user_id": b, "reason": "x"})
    assert unmerge.status_code == 404
