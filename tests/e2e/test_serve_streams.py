"""`mds serve` with KAFKA_BROKERS: the app runs the worker and the relay in-process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from confluent_kafka import Producer
from fastapi.testclient import TestClient

from mds.api.app import create_app
from mds.bootstrap import build_runtime
from mds.config import Settings
from mds.security.scopes import ALL_SCOPES
from tests.integration.kafka_helpers import consume_all


def test_a_signal_on_kafka_comes_out_as_a_user_event(
    test_settings: Settings,
    fresh_database: str,
    kafka_brokers: str,
    topic_prefix: str,
    issue_token: Callable[..., str],
) -> None:
    settings = test_settings.model_copy(
        update={
            "database_url": fresh_database,
            "kafka_brokers": kafka_brokers,
            "topic_prefix": topic_prefix,
            "ingest_topics": f"{topic_prefix}.signals",
            "dead_letter_topic": f"{topic_prefix}.dlq",
            "consumer_group": f"{topic_prefix}-serve",
            "consumer_session_timeout_ms": 6000,
            "relay_poll_seconds": 0.2,
        }
    )
    signal = {
        "event_id": "k-1",
        "source_system": "crm",
        "source_record_id": "K-1",
        "event_type": "crm_import",
        "occurred_at": "2026-11-02T10:00:00Z",
        "attributes": {"given_name": "Kafka", "family_name": "Franz", "email": "kf@example.com"},
    }
    with TestClient(create_app(lambda: build_runtime(settings))) as client:
        client.headers["Authorization"] = f"Bearer {issue_token(*ALL_SCOPES)}"
        producer = Producer({"bootstrap.servers": kafka_brokers})
        producer.produce(settings.ingest_topic_list[0], value=json.dumps(signal).encode())
        assert producer.flush(10) == 0
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 40
        while not found and time.monotonic() < deadline:
            params = {"source_system": "crm", "source_record_id": "K-1"}
            found = client.get("/v1/users", params=params).json()["items"]
            time.sleep(0.2)
        assert found, "the in-process worker did not resolve the signal"
        user_id = found[0]["id"]
        [event] = consume_all(kafka_brokers, settings.user_topic, expected=1)
    assert event.key == user_id and event.headers["type"] == "user.created"
    assert event.value["profile"]["given_name"] == "Kafka"
