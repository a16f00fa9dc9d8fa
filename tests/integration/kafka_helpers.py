"""Reading what reached a topic, for propagation tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


@dataclass(frozen=True)
class Received:
    key: str
    headers: dict[str, str]
    value: Any  # the JSON value, or the raw bytes when the message is not JSON
    partition: int
    offset: int


def consume_all(brokers: str, topic: str, expected: int, timeout: float = 20.0) -> list[Received]:
    """Messages of a topic from the start, until `expected` arrived and the topic is quiet."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    # Assigned, not subscribed: no group to join, so reading starts at once.
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got: list[Received] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(500, 0.5)
            for message in batch:
                if message.error():
                    continue
                headers = {k: v.decode() for k, v in (message.headers() or [])}
                got.append(
                    Received(
                        (message.key() or b"").decode(),
                        headers,
                        _decode(message.value()),
                        message.partition() or 0,
                        message.offset() or 0,
                    )
                )
            if batch:
                quiet_since = time.monotonic()
            if len(got) >= expected and time.monotonic() - quiet_since > 1.0:
                break
    finally:
        consumer.close()
    return got


def _decode(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"null")
    except ValueError:
        return value
