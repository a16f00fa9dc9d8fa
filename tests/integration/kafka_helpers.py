"""Reading what reached a topic, for propagation tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import migrate
from mds.streaming.kafka import ensure_topics
from tests.integration.helpers import settings_for


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


def streaming_settings(
    database_url: str, data_dir: Path, brokers: str, prefix: str, **overrides: Any
) -> Settings:
    """Settings whose topics and consumer group belong to one test (`<prefix>.…`)."""
    defaults: dict[str, Any] = {
        "kafka_brokers": brokers,
        "topic_prefix": prefix,
        "ingest_topics": f"{prefix}.signals",
        "dead_letter_topic": f"{prefix}.signals.dlq",
        "consumer_group": f"{prefix}-group",
        # Tansu takes the session timeout to settle a group join: keep it short in tests.
        "consumer_session_timeout_ms": 6000,
    }
    return settings_for(database_url, data_dir, **{**defaults, **overrides})


def prepared_store(engine: Engine, settings: Settings) -> tuple[sessionmaker[Session], Keyring]:
    """The database migrated, the test's topics created, a session factory and keyring."""
    migrate.upgrade(engine, settings)
    topics = [settings.user_topic, *settings.ingest_topic_list, settings.dead_letter_topic]
    ensure_topics(settings, topics, partitions=3)
    sessions = sessionmaker(engine, expire_on_commit=False)
    return sessions, load_keyring(sessions, LocalKeyFileProvider(settings.key_file_path))
