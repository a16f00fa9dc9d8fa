"""The published OpenAPI document is the contract: schemathesis calls every operation in it with
generated valid and invalid input, and no answer is a server error or differs from what the
document declares (status code, content type, body schema).

Operations are read from the app's own document, so routes added later are covered as they
appear. Each operation's cases run against a few seeded users and an open review item, and half
of the well-formed ids in paths are pointed at them, so reads and writes meet real records too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mds.api.app import create_app
from tests.e2e.api_helpers import ANA, post_signal

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 25
# Explicit and deterministic: the same cases on every run and machine, in well under a minute.
CONFIG = {
    "seed": 20261125,
    "generation": {
        "mode": "all",
        "max-examples": EXAMPLES,
        "deterministic": True,
        # The `client` fixture sends a valid token; generated ones would only test the 401.
        "with-security-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
}
# Path parameters naming a user or a review item.
USER_IDS = ("user_id", "user_a", "user_b")
ITEM_IDS = ("item_id",)

# The document as the app publishes it at /openapi.json (building the app touches no database).
schema = schemathesis.openapi.from_dict(
    create_app().openapi(), config=schemathesis.Config.from_dict(CONFIG)
)


@dataclass
class Seeded:
    client: TestClient
    users: list[str]
    items: list[str]


@pytest.fixture
def seeded(client: TestClient) -> Seeded:
    """Twins (a review item between them) and a third, unrelated user."""
    base = {k: v for k, v in ANA.items() if k not in {"email", "government_id", "phone"}}
    users = [
        post_signal(client, "C-1", **{**base, "given_name": "Lucía"})["user_id"],
        post_signal(client, "C-2", **{**base, "given_name": "Marta"})["user_id"],
        post_signal(client, "C-3", **ANA)["user_id"],
    ]
    items = [item["id"] for item in client.get("/v1/duplicates").json()["items"]]
    assert items, "the twins should have opened a review item"
    return Seeded(client, users, items)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # One app and rolled-back transaction per operation serve all of its cases.
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Case, seeded: Seeded) -> None:
    _aim_at_seeded_records(case, seeded)
    client = seeded.client
    response = client.request(**_httpx_arguments(case, str(client.base_url)))
    case.validate_response(response, checks=CHECKS)


def _aim_at_seeded_records(case: Case, seeded: Seeded) -> None:
    """Half of the well-formed ids (in the path, or a body's `user_id`) become a seeded record's,
    chosen by the generated id so that a run repeats exactly."""
    body = case.body if isinstance(case.body, dict) else {}
    places = [(case.path_parameters or {}, n, seeded.users) for n in USER_IDS]
    places += [(case.path_parameters or {}, n, seeded.items) for n in ITEM_IDS]
    places.append((body, "user_id", seeded.users))
    for values, name, known in places:
        try:
            generated = uuid.UUID(str(values[name]))
        except (KeyError, ValueError):
            continue
        if generated.int % 2 == 0:
            values[name] = known[generated.int // 2 % len(known)]


def _httpx_arguments(case: Case, base_url: str) -> dict[str, Any]:
    """The case as keyword arguments for httpx: schemathesis serializes for `requests`, and the
    test client (the `client` fixture, with its Authorization header) speaks httpx."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    arguments: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or None,
        "params": kwargs.get("params") or None,
    }
    if "json" in kwargs:
        arguments["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), bytes | str):
        arguments["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        arguments["data"] = kwargs["data"]
    if kwargs.get("cookies"):
        arguments["cookies"] = kwargs["cookies"]
    return arguments
