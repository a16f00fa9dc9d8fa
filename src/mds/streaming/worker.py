"""The ingestion worker: upstream signals from Kafka, resolved in micro-batches.

Offsets move only after the batch's database transaction committed, so a crash replays the
batch and the inbox (source_system + event_id) drops what was applied already: nothing is lost,
nothing is applied twice. A message that cannot be used (not a signal, one the service rejects,
or one that makes resolution fail on its own) goes to the dead-letter topic with error headers
and an `ingest_errors` row, and the partition moves on.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from mds.config import Settings
from mds.domain.signals import Signal, signal_errors
from mds.observability import WORKER_SIGNALS
from mds.security.keyring import Keyring
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import SignalOutcome, Status
from mds.store import ingest_errors
from mds.streaming.kafka import consumer_config, producer_config
from mds.streaming.serialization import SchemaRegistry, decode_confluent, signal_from_avro

log = structlog.get_logger(__name__)
FLUSH_TIMEOUT_SECONDS = 30.0
RETRY_PAUSE_SECONDS = 1.0
# A micro-batch closes when full or after this long: the latency a quiet topic adds.
BATCH_WAIT_SECONDS = 0.1


class PoisonMessageError(ValueError):
    """A message that is not a usable signal; the text says why (never the payload)."""


def decode_signal(value: bytes | None, registry: SchemaRegistry | None) -> Signal:
    if not value:
        raise PoisonMessageError("empty message")
    try:
        if value[0] == 0 and registry is not None:
            raw: Any = signal_from_avro(decode_confluent(value, registry))
        else:
            raw = json.loads(value)
    except (ValueError, UnicodeDecodeError, EOFError, struct.error) as exc:
        raise PoisonMessageError(f"not a JSON or Avro signal: {exc}") from None
    try:
        return Signal.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in signal_errors(exc))
        raise PoisonMessageError(f"invalid signal: {fields}") from None


@dataclass
class IngestWorker:
    settings: Settings
    sessions: Callable[[], Session]
    keyring: Keyring
    ingest_service: Callable[[], IngestService]
    registry: SchemaRegistry | None = None
    # Test seam: called with each decoded batch before it is resolved (to kill mid-batch).
    before_batch: Callable[[list[Signal]], None] | None = None
    batches: int = field(default=0)

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop`; after an unexpected error, rejoin from the committed offsets."""
        while not stop.is_set():
            try:
                self._consume(stop)
            except Exception:
                log.exception("worker.error")
                stop.wait(RETRY_PAUSE_SECONDS * 5)

    def _consume(self, stop: threading.Event) -> None:
        consumer = Consumer(consumer_config(self.settings, self.settings.consumer_group))
        dead_letters = Producer(producer_config(self.settings, "mds-worker-dlq"))
        consumer.subscribe(list(self.settings.ingest_topic_list))
        log.info("worker.started", topics=self.settings.ingest_topic_list)
        try:
            while not stop.is_set():
                messages = consumer.consume(self.settings.ingest_batch_size, BATCH_WAIT_SECONDS)
                usable = [m for m in messages if not m.error()]
                if usable:
                    self.handle(consumer, dead_letters, usable)
        finally:
            dead_letters.flush(FLUSH_TIMEOUT_SECONDS)
            consumer.close()  # leaves the group at once: partitions move without a timeout
            log.info("worker.stopped")

    def handle(self, consumer: Consumer, dead_letters: Producer, messages: list[Message]) -> None:
        """Resolve one micro-batch, dead-letter what cannot be used, then commit offsets."""
        decoded: list[tuple[Message, Signal]] = []
        poison: list[tuple[Message, str]] = []
        for message in messages:
            try:
                decoded.append((message, decode_signal(message.value(), self.registry)))
            except PoisonMessageError as exc:
                poison.append((message, str(exc)))
        while True:
            try:
                failed = self._resolve(decoded)
                break
            except (OperationalError, InterfaceError) as exc:
                # The database is away: nothing is committed, so wait and try the same batch.
                log.warning("worker.database_unavailable", error=str(exc.orig))
                time.sleep(RETRY_PAUSE_SECONDS)
        poison += failed
        if poison:
            self._dead_letter(dead_letters, poison)
        consumer.commit(offsets=_next_offsets(messages), asynchronous=False)
        self.batches += 1
        WORKER_SIGNALS.labels("resolved").inc(len(decoded) - len(failed))
        WORKER_SIGNALS.labels("dead_lettered").inc(len(poison))

    def _resolve(self, decoded: list[tuple[Message, Signal]]) -> list[tuple[Message, str]]:
        if not decoded:
            return []
        signals = [s for _, s in decoded]
        if self.before_batch is not None:
            self.before_batch(signals)
        # One bad signal must not hold its partition: it is rejected alone and dead-lettered.
        outcomes = self.ingest_service().ingest_isolated(signals, actor="kafka")
        return _rejected(decoded, outcomes)

    def _dead_letter(self, producer: Producer, poison: list[tuple[Message, str]]) -> None:
        for message, error in poison:
            producer.produce(
                self.settings.dead_letter_topic,
                key=message.key(),
                value=message.value(),
                headers=[
                    *(message.headers() or []),
                    ("mds.error", error.encode()[:1000]),
                    ("mds.source.topic", (message.topic() or "").encode()),
                    ("mds.source.partition", str(message.partition()).encode()),
                    ("mds.source.offset", str(message.offset()).encode()),
                ],
            )
        remaining = producer.flush(FLUSH_TIMEOUT_SECONDS)
        if remaining:
            raise RuntimeError(f"{remaining} dead letter(s) not acknowledged; batch not committed")
        with self.sessions() as session, session.begin():
            ingest_errors.record(session, self.keyring, poison)
        log.warning("worker.dead_lettered", count=len(poison))


def _rejected(
    decoded: list[tuple[Message, Signal]], outcomes: list[SignalOutcome]
) -> list[tuple[Message, str]]:
    """The messages whose signals the service rejected (from the future, unstorable, failing
    to resolve)."""
    return [
        (message, f"rejected: {outcome.error_text()}")
        for (message, _), outcome in zip(decoded, outcomes, strict=True)
        if outcome.status is Status.REJECTED
    ]


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message handled."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic() or "", m.partition() or 0)
        last[key] = max(last.get(key, -1), m.offset() or 0)
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]
