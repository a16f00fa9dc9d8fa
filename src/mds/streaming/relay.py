"""The built-in outbox relay: committed outbox rows to Kafka, in order per user, at least once.

One relay leads at a time: it holds a session-level advisory lock on its own connection, so
when its process dies the lock goes with the connection and a standby takes over. The leader
wakes on NOTIFY (written by a trigger when outbox rows commit) or after `relay_poll_seconds`,
numbers newly committed rows (the sequencer), publishes them in position order, waits for the
broker's acknowledgement (idempotent producer, acks=all), then marks them published. A crash
between publishing and marking publishes those rows again: duplicates carry the same `id`
header, in the same order, so consumers drop them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from mds.config import Settings
from mds.observability import RELAY_LAG, RELAY_PUBLISHED
from mds.security.keyring import Keyring
from mds.store.outbox import render
from mds.streaming.kafka import producer_config
from mds.streaming.sequencer import prune, sequence
from mds.streaming.serialization import EventSerializer, JsonSerializer

log = structlog.get_logger(__name__)
LEADER_LOCK = 0x6D64735F72656C31  # "mds_rel1"
NOTIFY_CHANNEL = "mds_outbox"
PRUNE_EVERY_SECONDS = 60.0
FLUSH_TIMEOUT_SECONDS = 30.0

ProducerFactory = Callable[[dict[str, Any]], Producer]


@dataclass
class Relay:
    settings: Settings
    engine: Engine
    keyring: Keyring
    serializer: EventSerializer = field(default_factory=JsonSerializer)
    producer_factory: ProducerFactory = Producer
    # Test seam: called after publishing and before marking, to simulate a crash there.
    after_publish: Callable[[int], None] | None = None
    is_leader: bool = False

    def run(self, stop: threading.Event) -> None:
        """Lead when possible, stand by otherwise, until `stop` is set."""
        while not stop.is_set():
            try:
                with self.engine.connect() as conn:
                    if self._try_lead(conn):
                        self._lead(conn, stop)
                    else:
                        stop.wait(self.settings.relay_poll_seconds)
            except Exception:
                self.is_leader = False
                log.exception("relay.error")
                stop.wait(min(5.0, self.settings.relay_poll_seconds * 2))
        self.is_leader = False

    def _try_lead(self, conn: Connection) -> bool:
        got = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar()
        )
        conn.commit()
        return got

    def _lead(self, conn: Connection, stop: threading.Event) -> None:
        self.is_leader = True
        log.info("relay.leading", topic=self.settings.user_topic)
        conn.execute(text(f"LISTEN {NOTIFY_CHANNEL}"))
        conn.commit()
        producer = self.producer_factory(producer_config(self.settings, "mds-relay"))
        pruned_at = 0.0
        try:
            while not stop.is_set():
                published = self.publish_once(conn, producer)
                if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                    self._prune(conn)
                    pruned_at = time.monotonic()
                if published < self.settings.relay_batch_size:
                    self._wait_for_commit(conn, stop)
        finally:
            producer.flush(FLUSH_TIMEOUT_SECONDS)
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
            conn.commit()
            self.is_leader = False

    def _wait_for_commit(self, conn: Connection, stop: threading.Event) -> None:
        driver = conn.connection.driver_connection
        assert driver is not None
        deadline = time.monotonic() + self.settings.relay_poll_seconds
        # Short slices so a stop request is seen quickly; any notification ends the wait.
        while not stop.is_set() and time.monotonic() < deadline:
            for _ in driver.notifies(timeout=min(0.2, self.settings.relay_poll_seconds)):
                return

    def publish_once(self, conn: Connection, producer: Producer) -> int:
        """Number what committed, publish the next batch, mark what the broker acknowledged."""
        with Session(bind=conn) as session, session.begin():
            sequence(session)
            # Same transaction, fresh statement: sees the positions just given.
            rows = session.execute(
                text(
                    "SELECT id, aggregateid, type, payload, position, created_at FROM outbox"
                    " WHERE published_at IS NULL AND position IS NOT NULL"
                    " ORDER BY position LIMIT :n"
                ),
                {"n": self.settings.relay_batch_size},
            ).all()
        if not rows:
            RELAY_LAG.set(0)
            return 0
        failures: dict[int, str] = {}

        def delivered(index: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(error: KafkaError | None, _message: Message) -> None:
                if error is not None:
                    failures[index] = str(error)

            return callback

        topic = self.settings.user_topic
        for index, row in enumerate(rows):
            value = self.serializer.serialize(render(row.payload, self.keyring))
            producer.produce(
                topic,
                key=row.aggregateid.encode(),
                value=value,
                headers=[("id", str(row.id).encode()), ("type", row.type.encode())],
                on_delivery=delivered(index),
            )
            producer.poll(0)
        remaining = producer.flush(FLUSH_TIMEOUT_SECONDS)
        # Only the acknowledged prefix is marked: a later row of the same user must never be
        # marked while an earlier one is left to retry.
        done = len(rows) if remaining == 0 else 0
        if failures:
            first = min(failures)
            done = min(done, first)
            log.warning("relay.delivery_failed", count=len(failures), first=failures[first])
        if self.after_publish is not None:
            self.after_publish(done)
        if done:
            with Session(bind=conn) as session, session.begin():
                session.execute(
                    text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)"),
                    {"ids": [row.id for row in rows[:done]]},
                )
            RELAY_PUBLISHED.inc(done)
            RELAY_LAG.set(max(0.0, time.time() - rows[done - 1].created_at.timestamp()))
        return done

    def _prune(self, conn: Connection) -> None:
        with Session(bind=conn) as session, session.begin():
            removed = prune(session, self.settings.outbox_retention_hours, published_only=True)
        if removed:
            log.info("relay.pruned", rows=removed)
