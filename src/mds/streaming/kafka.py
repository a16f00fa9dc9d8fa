"""Kafka client settings shared by the relay and the ingestion worker, and topic creation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from mds.config import Settings


def _brokers(settings: Settings) -> str:
    if not settings.kafka_brokers:
        raise ValueError("KAFKA_BROKERS is not set")
    return settings.kafka_brokers


def producer_config(settings: Settings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": _brokers(settings),
        "client.id": client_id,
        # Idempotence: no duplicates from the producer's own retries, order kept per partition.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
    }


def consumer_config(settings: Settings, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": _brokers(settings),
        "group.id": group,
        "enable.auto.commit": False,  # offsets move only after the database commit
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        # Kafka's 45 s default makes a dead worker's partitions wait that long to move.
        "session.timeout.ms": settings.consumer_session_timeout_ms,
        "heartbeat.interval.ms": max(100, settings.consumer_session_timeout_ms // 10),
    }


def ensure_topics(settings: Settings, topics: Iterable[str], partitions: int = 6) -> None:
    """Create the topics that do not exist yet (an existing topic is left as it is)."""
    admin = AdminClient({"bootstrap.servers": _brokers(settings)})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [NewTopic(t, num_partitions=partitions) for t in topics if t not in existing]
    if not wanted:
        return
    for topic, future in admin.create_topics(wanted).items():
        try:
            future.result(15)
        except KafkaException as exc:
            if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another process won the race
                raise RuntimeError(f"cannot create topic {topic}: {exc}") from exc
