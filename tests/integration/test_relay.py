"""The built-in relay against a real Kafka-protocol broker and a real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from mds.config import Settings
from mds.domain.events import UserEvent, UserEventType
from mds.security.keyring import Keyring
from mds.store import outbox
from mds.store.models import Outbox
from mds.streaming.kafka import producer_config
from mds.streaming.relay import Relay
from mds.streaming.serialization import (
    AvroSerializer,
    SchemaRegistry,
    decode_confluent,
    load_schema,
)
from tests.integration.ingest_helpers import ANA, NOW, service, signal
from tests.integration.kafka_helpers import consume_all, prepared_store, streaming_settings
from tests.support.schema_registry import schema_registry


@pytest.fixture
def settings(
    fresh_database: str, tmp_path: Path, kafka_brokers: str, topic_prefix: str
) -> Settings:
    return streaming_settings(
        fresh_database,
        tmp_path,
        kafka_brokers,
        topic_prefix,
        relay_poll_seconds=30,
        relay_batch_size=100,
    )


@pytest.fixture
def store(fresh_engine: Engine, settings: Settings) -> tuple[sessionmaker[Session], Keyring]:
    return prepared_store(fresh_engine, settings)


@pytest.fixture
def migrated(fresh_engine: Engine, store: object) -> Engine:
    return fresh_engine


@pytest.fixture
def keyring(store: tuple[sessionmaker[Session], Keyring]) -> Keyring:
    return store[1]


def _event() -> UserEvent:
    return UserEvent(
        UserEventType.UPDATED, uuid.uuid4(), 2, NOW, {"given_name": "Ana"}, ("given_name",)
    )


def _relay(settings: Settings, engine: Engine, keyring: Keyring) -> Relay:
    return Relay(settings, engine, keyring)


def test_committed_events_reach_the_topic_once_with_key_headers_and_profile(
    settings: Settings, migrated: Engine, keyring: Keyring
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    ingest = service(sessions, keyring)
    [ana] = ingest.ingest([signal("C-1", **ANA)])
    ingest.ingest([signal("C-1", at="2026-11-03T10:00:00Z", **{**ANA, "phone": "+34 699 1"})])
    relay = _relay(settings, migrated, keyring)
    producer = Producer(producer_config(settings, "test"))
    with migrated.connect() as conn:
        assert relay.publish_once(conn, producer) == 2
        assert relay.publish_once(conn, producer) == 0
    received = consume_all(settings.kafka_brokers or "", settings.user_topic, expected=2)
    assert len(received) == 2
    assert {r.key for r in received} == {str(ana.user_id)}
    assert [r.headers["type"] for r in received] == ["user.created", "user.updated"]
    assert [r.value["version"] for r in received] == [1, 2]
    assert all(r.headers["id"] == r.value["event_id"] for r in received)
    assert received[0].value["profile"]["given_name"] == "Ana"
    assert "profile_enc" not in received[0].value
    with sessions() as session:
        unpublished = session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
        )
    assert unpublished == 0


WRITERS = 8


def test_writers_committing_out_of_order_lose_no_row(
    settings: Settings, migrated: Engine, keyring: Keyring
) -> None:
    """Writers draw their seq in turn but commit in reverse order, the relay publishing after
    each commit: a relay that went by seq would skip the late committers (lower seqs)."""
    sessions = sessionmaker(migrated, expire_on_commit=False)
    inserted = [threading.Event() for _ in range(WRITERS)]
    release = [threading.Event() for _ in range(WRITERS)]
    committed = [threading.Event() for _ in range(WRITERS)]
    ids: list[uuid.UUID | None] = [None] * WRITERS
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            if n and not inserted[n - 1].wait(10):  # seq order = n
                raise TimeoutError(f"writer {n - 1} did not insert")
            event = _event()
            ids[n] = event.id
            with sessions() as session, session.begin():
                outbox.add_events(session, keyring, [event])
                session.flush()
                inserted[n].set()
                if not release[n].wait(10):
                    raise TimeoutError(f"writer {n} was not released")
            committed[n].set()
        except BaseException as exc:
            errors.append(exc)
            inserted[n].set()
            committed[n].set()

    relay = _relay(settings, migrated, keyring)
    producer = Producer(producer_config(settings, "test"))
    # Connected and idempotence set up before the race, so each pass is quick.
    producer.produce(f"{settings.topic_prefix}.warmup", value=b"")
    producer.flush(10)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert inserted[-1].wait(10)
    published = 0
    commit_order = list(reversed(range(WRITERS)))
    with migrated.connect() as conn:
        for n in commit_order:
            release[n].set()
            assert committed[n].wait(10)
            published += relay.publish_once(conn, producer)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert published == WRITERS
    received = consume_all(settings.kafka_brokers or "", settings.user_topic, expected=WRITERS)
    assert sorted(r.headers["id"] for r in received) == sorted(str(i) for i in ids)
    with sessions() as session:
        rows = session.execute(select(Outbox.id, Outbox.seq, Outbox.position)).all()
    position = {row.id: row.position for row in rows}
    seq = {row.id: row.seq for row in rows}
    # Positions follow commit order, never skipping a row, while seq runs the other way.
    assert [position[ids[n]] for n in commit_order] == sorted(position.values())
    assert [seq[ids[n]] for n in commit_order] == sorted(seq.values(), reverse=True)


def _wait(condition: object, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_one_relay_leads_and_a_standby_takes_over_woken_by_notify(
    settings: Settings, migrated: Engine, keyring: Keyring
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    fast = settings.model_copy(update={"relay_poll_seconds": 0.2})
    first, second = _relay(fast, migrated, keyring), _relay(fast, migrated, keyring)
    stops = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=r.run, args=(stop,), daemon=True)
        for r, stop in zip((first, second), stops, strict=True)
    ]
    threads[0].start()
    assert _wait(lambda: first.is_leader)
    threads[1].start()
    time.sleep(0.5)
    assert first.is_leader and not second.is_leader
    stops[0].set()
    threads[0].join(10)
    assert _wait(lambda: second.is_leader)
    # The standby now leads; with a 30 s poll only NOTIFY can make it publish this quickly.
    slow = settings.model_copy(update={"relay_poll_seconds": 30})
    second.settings = slow
    time.sleep(0.5)
    with sessions() as session, session.begin():
        outbox.add_events(session, keyring, [_event()])
    started = time.monotonic()
    received = consume_all(settings.kafka_brokers or "", settings.user_topic, expected=1)
    stops[1].set()
    threads[1].join(35)
    assert len(received) == 1
    assert time.monotonic() - started < 10


def test_with_a_schema_registry_events_are_avro_in_the_confluent_wire_format(
    settings: Settings, migrated: Engine, keyring: Keyring
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    [ana] = service(sessions, keyring).ingest([signal("C-1", **ANA)])
    with schema_registry() as url:
        registry = SchemaRegistry(url)
        serializer = AvroSerializer(
            registry, f"{settings.user_topic}-value", load_schema("user_event")
        )
        relay = Relay(settings, migrated, keyring, serializer)
        producer = Producer(producer_config(settings, "test"))
        with migrated.connect() as conn:
            assert relay.publish_once(conn, producer) == 1
        [message] = consume_all(settings.kafka_brokers or "", settings.user_topic, expected=1)
        assert isinstance(message.value, bytes) and message.value[0] == 0
        event = decode_confluent(message.value, registry)
    assert event["user_id"] == str(ana.user_id) and event["type"] == "user.created"
    assert event["event_id"] == message.headers["id"]
    assert json.loads(event["profile"])["given_name"] == "Ana"
