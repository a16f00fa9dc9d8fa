"""GET /v1/changes: the change feed in commit order, with cursors and masking."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from mds.security.scopes import READ
from tests.e2e.api_helpers import ANA, post_signal


def test_the_feed_pages_through_changes_in_commit_order(client: TestClient) -> None:
    start = client.get("/v1/changes").json()
    cursor = start["next_cursor"]
    ana = post_signal(client, "C-1", **ANA)
    post_signal(client, "C-1", at="2026-11-03T10:00:00Z", **{**ANA, "phone": "+34 699 000 111"})
    bob = post_signal(client, "C-2", given_name="Roberto", family_name="Núñez")
    first = client.get("/v1/changes", params={"cursor": cursor, "limit": 2}).json()
    second = client.get("/v1/changes", params={"cursor": first["next_cursor"]}).json()
    events = [i["event"] for i in first["items"] + second["items"]]
    assert [(e["type"], e["user_id"]) for e in events] == [
        ("user.created", ana["user_id"]),
        ("user.updated", ana["user_id"]),
        ("user.created", bob["user_id"]),
    ]
    positions = [i["position"] for i in first["items"] + second["items"]]
    assert positions == sorted(positions)
    assert events[1]["changed"] == ["phone"] and events[1]["profile"]["phone"] == "+34699000111"
    empty = client.get("/v1/changes", params={"cursor": second["next_cursor"]}).json()
    assert empty["items"] == [] and empty["next_cursor"] == second["next_cursor"]


def test_without_pii_scope_the_profiles_are_masked(
    client: TestClient, auth_header: Callable[..., dict[str, str]]
) -> None:
    post_signal(client, "C-1", **ANA)
    body = client.get("/v1/changes", headers=auth_header(READ)).json()
    profile = body["items"][-1]["event"]["profile"]
    assert profile["email"] == "a***@example.com" and profile["given_name"] == "A***"


def test_a_long_poll_waits_then_answers_empty(client: TestClient) -> None:
    cursor = client.get("/v1/changes").json()["next_cursor"]
    started = time.monotonic()
    body = client.get("/v1/changes", params={"cursor": cursor, "wait": 0.6}).json()
    assert body["items"] == [] and time.monotonic() - started >= 0.5
    bad = client.get("/v1/changes", params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
