"""The ingestion worker against a real Kafka-protocol broker and a real PostgreSQL."""

from __future__ import annotations

import io
import json
import random
import struct
import threading
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings
from mds.security.keyring import Keyring
from mds.store.models import AuditLog, IngestError, Outbox, SourceIdentity
from mds.store.models import Signal as InboxRow
from mds.store.source_identities import get_attributes
from mds.streaming.kafka import consumer_config
from mds.streaming.serialization import SchemaRegistry, load_schema
from mds.streaming.worker import IngestWorker
from tests.integration.ingest_helpers import DEFECT, inject_defect, service
from tests.integration.kafka_helpers import consume_all, prepared_store, streaming_settings
from tests.support.schema_registry import schema_registry


@pytest.fixture
def settings(
    fresh_database: str, tmp_path: Path, kafka_brokers: str, topic_prefix: str
) -> Settings:
    return streaming_settings(
        fresh_database, tmp_path, kafka_brokers, topic_prefix, ingest_batch_size=50
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


GIVEN = ["Ana", "Luis", "Marta", "Jorge", "Elena", "Pablo", "Irene", "Diego", "Sara", "Hugo"]
FAMILY = ["García", "Ortega", "Molina", "Delgado", "Castro", "Vidal", "Herrera", "Prieto"]


def person(n: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-{n}",
        "source_system": "crm",
        "source_record_id": f"C-{n}",
        "event_type": "crm_import",
        "occurred_at": "2026-11-02T10:00:00Z",
        "attributes": {
            "given_name": GIVEN[n % len(GIVEN)],
            "family_name": FAMILY[n % len(FAMILY)] + " " + FAMILY[(n // 3) % len(FAMILY)],
            "date_of_birth": f"19{50 + n}-0{1 + n % 9}-1{n % 10}",
            "email": f"{GIVEN[n % len(GIVEN)].lower()}.{n * 7919}@example.com",
        },
    }


def produce(settings: Settings, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_brokers})
    topic = settings.ingest_topic_list[0]
    for value in values:
        producer.produce(topic, key=value[:16], value=value)
    assert producer.flush(10) == 0


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def run_until(worker: IngestWorker, done: Any, timeout: float = 40.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.2)
    stop.set()
    thread.join(20)
    assert done(), f"the worker did not finish in time ({worker.batches} batches)"


def committed(settings: Settings) -> int:
    """Offsets the group committed, summed over partitions."""
    consumer = Consumer(consumer_config(settings, settings.consumer_group))
    topic = settings.ingest_topic_list[0]
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    consumer.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def test_duplicates_and_poison_messages(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    signals = [json.dumps(person(n)).encode() for n in range(20)]
    deliveries = [s for s in signals for _ in range(random.Random(7).randint(2, 10))]
    random.Random(3).shuffle(deliveries)
    poison = [
        b"{not json",
        json.dumps({**person(99), "event_type": "rumour"}).encode(),
        json.dumps({**person(98), "occurred_at": "2099-01-01T00:00:00Z"}).encode(),
    ]
    produce(settings, deliveries[:40] + poison + deliveries[40:])
    worker = IngestWorker(settings, sessions, keyring, lambda: service(sessions, keyring))

    def done() -> bool:
        with sessions() as session:
            applied = count(session, IngestError) == 3 and count(session, InboxRow) == 20
        # The last signal can be applied while redeliveries of earlier ones still wait behind
        # it: done once every delivery was consumed and committed too.
        return applied and committed(settings) == len(deliveries) + len(poison)

    run_until(worker, done)
    with sessions() as session:
        assert count(session, SourceIdentity) == 20
        assert count(session, Outbox) == 20  # one user.created each, nothing applied twice
        errors = session.scalars(select(IngestError).order_by(IngestError.offset)).all()
    assert any("not a JSON or Avro signal" in e.error for e in errors)
    assert any("event_type" in e.error for e in errors)
    assert any("rejected: occurred_at:" in e.error for e in errors)
    assert all(e.payload_enc is not None and b"rumour" not in e.payload_enc for e in errors)
    dead = consume_all(settings.kafka_brokers or "", settings.dead_letter_topic, expected=3)
    assert len(dead) == 3
    by_error = {d.headers["mds.error"]: d.value for d in dead}
    assert [v for e, v in by_error.items() if "not a JSON or Avro signal" in e] == [b"{not json"]
    assert any("event_type" in e for e in by_error)
    assert any("ahead of the service's clock" in e for e in by_error)
    assert all(d.headers["mds.source.topic"] == settings.ingest_topic_list[0] for d in dead)
    assert committed(settings) == len(deliveries) + len(poison)


def test_a_signal_whose_resolution_fails_is_dead_lettered_alone(
    settings: Settings,
    sessions: sessionmaker[Session],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inject_defect(monkeypatch)
    bad = person(7)
    bad["attributes"]["given_name"] = "Boom"
    values = [json.dumps(person(n)).encode() for n in range(6)] + [json.dumps(bad).encode()]
    produce(settings, values)
    worker = IngestWorker(settings, sessions, keyring, lambda: service(sessions, keyring))

    def done() -> bool:
        with sessions() as session:
            applied = count(session, IngestError) == 1 and count(session, InboxRow) == 6
        return applied and committed(settings) == len(values)

    run_until(worker, done)
    [dead] = consume_all(settings.kafka_brokers or "", settings.dead_letter_topic, expected=1)
    assert dead.headers["mds.error"] == (f"rejected: resolution failed: RuntimeError: {DEFECT}")
    assert dead.value["event_id"] == "evt-7"
    with sessions() as session:
        assert count(session, SourceIdentity) == 6


def test_a_replay_from_offset_zero_applies_nothing_again(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    produce(settings, [json.dumps(person(n)).encode() for n in range(10)])
    first = IngestWorker(settings, sessions, keyring, lambda: service(sessions, keyring))

    def all_in() -> bool:
        with sessions() as session:
            return count(session, InboxRow) == 10

    run_until(first, all_in)
    with sessions() as session:
        events = count(session, Outbox)
    replay_settings = settings.model_copy(update={"consumer_group": "replay-group"})
    replay = IngestWorker(replay_settings, sessions, keyring, lambda: service(sessions, keyring))
    run_until(replay, lambda: committed(replay_settings) == 10)
    with sessions() as session:
        assert count(session, InboxRow) == 10
        assert count(session, SourceIdentity) == 10
        assert count(session, Outbox) == events


def test_avro_signals_through_the_schema_registry(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    with schema_registry() as url:
        registry = SchemaRegistry(url)
        schema = load_schema("signal")
        schema_id = registry.register(f"{settings.ingest_topic_list[0]}-value", schema)
        parsed = fastavro.parse_schema(schema)
        values = []
        for n in range(3):
            record = person(n)
            record["attributes"] = {**record["attributes"], "preferences": '{"newsletter": true}'}
            buffer = io.BytesIO()
            buffer.write(struct.pack(">bI", 0, schema_id))  # Confluent framing, then the body
            fastavro.schemaless_writer(buffer, parsed, record)
            values.append(buffer.getvalue())
        values.append(struct.pack(">bI", 0, 999) + b"\x00")  # an unknown schema id
        produce(settings, values)
        worker = IngestWorker(
            settings, sessions, keyring, lambda: service(sessions, keyring), registry
        )

        def done() -> bool:
            with sessions() as session:
                return count(session, InboxRow) == 3 and count(session, IngestError) == 1

        run_until(worker, done)
    with sessions() as session:
        [error] = session.scalars(select(IngestError)).all()
        identity = session.scalars(
            select(SourceIdentity).where(SourceIdentity.source_record_id == "C-1")
        ).one()
    assert "schema id 999" in error.error
    assert get_attributes(sessions(), keyring, identity.id)["preferences"] == {"newsletter": True}


def test_a_rebalance_when_a_worker_leaves_loses_nothing(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    total = 300
    produce(settings, [json.dumps(person(n)).encode() for n in range(total)])
    small = settings.model_copy(update={"ingest_batch_size": 10})
    first = IngestWorker(small, sessions, keyring, lambda: service(sessions, keyring))
    second = IngestWorker(small, sessions, keyring, lambda: service(sessions, keyring))
    stops = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=w.run, args=(s,), daemon=True)
        for w, s in zip((first, second), stops, strict=True)
    ]
    for thread in threads:
        thread.start()
    workers = (first, second)
    deadline = time.monotonic() + 30
    while max(w.batches for w in workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # The busier one leaves mid-stream: its partitions move to the other.
    leaving = 0 if first.batches >= second.batches else 1
    stops[leaving].set()
    threads[leaving].join(20)
    staying = 1 - leaving

    def all_in() -> bool:
        with sessions() as session:
            return count(session, InboxRow) == total

    deadline = time.monotonic() + 60
    while not all_in() and time.monotonic() < deadline:
        time.sleep(0.2)
    stops[staying].set()
    threads[staying].join(20)
    assert all_in()
    assert workers[leaving].batches >= 2 and workers[staying].batches >= 1
    with sessions() as session:
        assert count(session, SourceIdentity) == total
        resolved = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "signal.resolved")
        )
    assert resolved == total
