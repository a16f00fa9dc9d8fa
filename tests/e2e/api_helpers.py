"""Posting signals through the API in tests."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

_ids = itertools.count(1)


def post_signal(
    client: TestClient,
    record: str,
    *,
    source: str = "crm",
    at: str = "2026-11-01T10:00:00Z",
    event_type: str = "crm_import",
    **attributes: Any,
) -> dict[str, Any]:
    body = {
        "event_id": f"api-evt-{next(_ids)}",
        "source_system": source,
        "source_record_id": record,
        "event_type": event_type,
        "occurred_at": at,
        "attributes": attributes,
    }
    response = client.post("/v1/signals", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


ANA = {
    "given_name": "Ana",
    "family_name": "García",
    "email": "ana.garcia@example.com",
    "phone": "+34 612 345 678",
    "date_of_birth": "1990-04-01",
    "address": {
        "line1": "Calle Mayor 5",
        "locality": "Madrid",
        "postal_code": "28013",
        "country": "ES",
    },
    "government_id": {"type": "national_id", "country": "ES", "value": "12345678Z"},
}
