"""SIGKILL the relay and the worker at random points: nothing lost, nothing applied twice.

The processes are the real `mds relay` / `mds worker` commands against a real PostgreSQL and a
real Kafka-protocol broker; the kill is the uncatchable one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings
from mds.domain.events import UserEvent, UserEventType
from mds.security.keyring import Keyring
from mds.store import outbox
from mds.store.models import AuditLog, Outbox, SourceIdentity
from mds.store.models import Signal as InboxRow
from tests.integration.ingest_helpers import NOW
from tests.integration.kafka_helpers import consume_all, prepared_store, streaming_settings
from tests.integration.test_worker import person

pytestmark = pytest.mark.slow
KILLS = 6


@pytest.fixture
def settings(
    fresh_database: str, tmp_path: Path, kafka_brokers: str, topic_prefix: str
) -> Settings:
    return streaming_settings(
        fresh_database,
        tmp_path / "data",
        kafka_brokers,
        topic_prefix,
        ingest_batch_size=40,
        relay_batch_size=50,
        relay_poll_seconds=0.2,
    )


@pytest.fixture
def store(fresh_engine: Engine, settings: Settings) -> tuple[sessionmaker[Session], Keyring]:
    return prepared_store(fresh_engine, settings)


@pytest.fixture
def sessions(store: tuple[sessionmaker[Session], Keyring]) -> sessionmaker[Session]:
    return store[0]


@pytest.fixture
def keyring(store: tuple[sessionmaker[Session], Keyring]) -> Keyring:
    return store[1]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
    env.update(
        DATABASE_URL=settings.database_url or "",
        KAFKA_BROKERS=settings.kafka_brokers or "",
        MDS_DATA_DIR=str(settings.data_dir),
        MDS_TOPIC_PREFIX=settings.topic_prefix,
        MDS_INGEST_TOPICS=settings.ingest_topics,
        MDS_DEAD_LETTER_TOPIC=settings.dead_letter_topic,
        MDS_CONSUMER_GROUP=settings.consumer_group,
        MDS_CONSUMER_SESSION_TIMEOUT_MS=str(settings.consumer_session_timeout_ms),
        MDS_INGEST_BATCH_SIZE=str(settings.ingest_batch_size),
        MDS_RELAY_BATCH_SIZE=str(settings.relay_batch_size),
        MDS_RELAY_POLL_SECONDS=str(settings.relay_poll_seconds),
        MDS_LOG_LEVEL="WARNING",
    )
    return env


def _start(command: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mds", command], env=_env(settings), stdout=out, stderr=out
        )


def _count(session: Session, model: type, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_killing_the_relay_loses_no_event_and_keeps_per_user_order(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring, tmp_path: Path
) -> None:
    users = [uuid.uuid4() for _ in range(12)]
    rng = random.Random(11)
    for version in range(1, 41):
        with sessions() as session, session.begin():
            events = [
                UserEvent(UserEventType.UPDATED, u, version, NOW, {"given_name": f"v{version}"})
                for u in rng.sample(users, 6)
            ]
            outbox.add_events(session, keyring, events)
    with sessions() as session:
        total = _count(session, Outbox)
    log = tmp_path / "relay.log"
    for _ in range(KILLS):
        relay = _start("relay", settings, log)
        time.sleep(rng.uniform(1.0, 3.0))  # start-up is ~1 s: kills land before, during, after
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
    relay = _start("relay", settings, log)

    def all_published() -> bool:
        with sessions() as session:
            return _count(session, Outbox, Outbox.published_at.is_(None)) == 0

    assert _wait_for(all_published, 60), log.read_text()[-2000:]
    relay.send_signal(signal.SIGTERM)
    relay.wait(30)
    received = consume_all(settings.kafka_brokers or "", settings.user_topic, expected=total)
    with sessions() as session:
        expected = {
            str(i): (k, v)
            for i, k, v in session.execute(
                select(Outbox.id, Outbox.aggregateid, Outbox.payload["version"].as_integer())
            )
        }
    ids = {r.headers["id"] for r in received}
    assert ids == set(expected), "every outbox event reaches the topic at least once"
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for message in received:  # partition order; one user is on one partition
        event_id = message.headers["id"]
        assert message.value["event_id"] == event_id  # a duplicate is the same event
        if event_id in seen:
            continue
        seen.add(event_id)
        first_seen[message.key].append(message.value["version"])
    assert all(versions == sorted(versions) for versions in first_seen.values())


def test_killing_the_worker_mid_batch_loses_and_repeats_no_signal(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    total = 1200
    producer = Producer({"bootstrap.servers": settings.kafka_brokers})
    for n in range(total):
        producer.produce(settings.ingest_topic_list[0], value=json.dumps(person(n)).encode())
    assert producer.flush(10) == 0
    log = tmp_path / "worker.log"
    rng = random.Random(5)
    for _ in range(KILLS // 2):
        worker = _start("worker", settings, log)
        time.sleep(rng.uniform(3.0, 6.0))  # before, during and after the group join and batches
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    worker = _start("worker", settings, log)
    # Signals only the last worker can take: once they are in, it is surely running (the
    # earlier ones may have finished the rest), so the SIGTERM below tests a graceful stop.
    late = 5
    for n in range(total, total + late):
        producer.produce(settings.ingest_topic_list[0], value=json.dumps(person(n)).encode())
    assert producer.flush(10) == 0
    total += late

    def all_in() -> bool:
        with sessions() as session:
            return _count(session, InboxRow) == total

    assert _wait_for(all_in, 120), log.read_text()[-2000:]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    with sessions() as session:
        assert _count(session, SourceIdentity) == total
        resolved = _count(session, AuditLog, AuditLog.action == "signal.resolved")
        assert resolved == total, "a signal applied twice would be resolved twice"
        assert (
            session.execute(text("SELECT count(*) FROM signals WHERE outcome IS NULL")).scalar_one()
            == 0
        )
