"""Propagation: relay throughput to a local Kafka-protocol broker, and commit-to-topic latency.

1. Relay throughput: N outbox events committed up front, then the relay publishes them all
   (sequencing, decrypting, producing, waiting for acks, marking). Baseline in the same run:
   a bare idempotent producer sending the same number of messages of the same size, with no
   database at all (the broker and client ceiling).
2. Commit-to-topic latency: signals resolved one per transaction at a steady rate while the
   relay runs woken by NOTIFY; for each, the time from the commit returning to a consumer
   receiving the event (assigned partitions, no group).

Usage: python bench/propagation.py [--events 20000] [--rate 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal as signal_module
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from sqlalchemy import select

from bench.common import Store, bench_database, open_store, peak_rss_mib, percentiles
from mds.config import Settings
from mds.domain.events import UserEvent, UserEventType
from mds.domain.signals import Signal
from mds.services.ingest import IngestService
from mds.services.resolution.config import ResolutionConfig
from mds.store import outbox
from mds.store.models import Outbox
from mds.streaming.kafka import ensure_topics, producer_config
from mds.streaming.relay import Relay
from mds.streaming.serialization import JsonSerializer
from mds.streaming.tansu import LocalBroker

PROFILE = {
    "user_id": "",
    "status": "active",
    "version": 2,
    "given_name": "Ana",
    "family_name": "García López",
    "email": "ana.garcia@example.com",
    "phone": "+34612345678",
    "date_of_birth": "1990-04-01",
    "address": {"street": "Calle Mayor 5", "locality": "Madrid", "postal_code": "28013"},
    "government_id": None,
    "locale": "es-ES",
    "preferences": {"newsletter": True},
}


def relay_throughput(store: Store, settings: Settings, events: int) -> tuple[float, int]:
    users = [uuid.uuid4() for _ in range(max(1, events // 4))]
    now = datetime.now(UTC)
    written = 0
    while written < events:
        chunk = [
            UserEvent(UserEventType.UPDATED, users[(written + i) % len(users)], 2, now, PROFILE)
            for i in range(min(5_000, events - written))
        ]
        with store.sessions() as session, session.begin():
            outbox.add_events(session, store.keyring, chunk)
        written += len(chunk)
    relay = Relay(settings, store.engine, store.keyring)
    producer = Producer(producer_config(settings, "bench-relay"))
    started = time.perf_counter()
    published = 0
    with store.engine.connect() as conn:
        while published < events:
            done = relay.publish_once(conn, producer)
            if not done:
                break
            published += done
    return published / (time.perf_counter() - started), published


def producer_baseline(settings: Settings, events: int) -> float:
    value = JsonSerializer().serialize(
        {"event_id": str(uuid.uuid4()), "type": "user.updated", "profile": PROFILE}
    )
    producer = Producer(producer_config(settings, "bench-baseline"))
    topic = f"{settings.topic_prefix}.baseline"
    started = time.perf_counter()
    for n in range(events):
        producer.produce(topic, key=str(n % 5000).encode(), value=value, headers=[("id", b"x")])
        producer.poll(0)
    producer.flush(60)
    return events / (time.perf_counter() - started)


def signal(n: int) -> Signal:
    return Signal.model_validate(
        {
            "event_id": f"lat-{n}",
            "source_system": "signup",
            "source_record_id": f"L-{n}",
            "event_type": "signup",
            "occurred_at": datetime.now(UTC).isoformat(),
            "attributes": {"given_name": "Lat", "family_name": f"Ency{n}", "email": f"l{n}@x.io"},
        }
    )


def _receive(brokers: str, topic: str, ready: Any, stop: Any, out: Any) -> None:
    """In its own process (no GIL shared with the load): wall-clock receive time per event id."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "bench", "fetch.wait.max.ms": 5})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    received: dict[str, float] = {}
    ready.set()
    while not stop.is_set():
        # poll, not consume(n, t): a batch call waits for n messages or the whole timeout.
        message = consumer.poll(0.05)
        if message is not None and not message.error():
            headers = dict(message.headers() or [])
            sent_id = headers["id"]
            if isinstance(sent_id, bytes):
                received.setdefault(sent_id.decode(), time.time())
    consumer.close()
    out.put(received)


def latency(store: Store, settings: Settings, rate: float, seconds: float) -> list[float]:
    committed: dict[str, float] = {}
    context = multiprocessing.get_context("spawn")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    receiver = context.Process(
        target=_receive, args=(settings.kafka_brokers, settings.user_topic, ready, stop, out)
    )
    receiver.start()
    # The relay in a process of its own, as `mds relay` runs in production: in this process it
    # would share the GIL with the resolution work of the load.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
    env.update(
        DATABASE_URL=settings.database_url or "",
        KAFKA_BROKERS=settings.kafka_brokers or "",
        MDS_DATA_DIR=str(settings.data_dir),
        MDS_TOPIC_PREFIX=settings.topic_prefix,
        MDS_RELAY_POLL_SECONDS="5",
        MDS_LOG_LEVEL="WARNING",
    )
    relay = subprocess.Popen([sys.executable, "-m", "mds", "relay"], env=env)
    ready.wait(30)
    time.sleep(4.0)  # relay started and leading
    ingest = IngestService(store.sessions, store.keyring, ResolutionConfig())
    interval, n = 1.0 / rate, 0
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        [outcome] = ingest.ingest([signal(n)])
        done_at = time.time()
        with store.sessions() as session:
            event_id = session.scalar(
                select(Outbox.id)
                .where(Outbox.aggregateid == str(outcome.user_id))
                .order_by(Outbox.seq.desc())
                .limit(1)
            )
        committed[str(event_id)] = done_at
        n += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    time.sleep(2.0)
    stop.set()
    received: dict[str, float] = out.get(timeout=30)
    receiver.join(30)
    relay.send_signal(signal_module.SIGTERM)
    relay.wait(30)
    missing = [e for e in committed if e not in received]
    if missing:
        print(f"  warning: {len(missing)} events not received")
    return [received[e] - committed[e] for e in committed if e in received]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0, help="signals/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    broker = LocalBroker.start()
    try:
        with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
            store = open_store(url, Path(tmp))
            settings = store.settings.model_copy(
                update={"kafka_brokers": broker.bootstrap_servers, "topic_prefix": "bench"}
            )
            ensure_topics(settings, [settings.user_topic, "bench.baseline"], partitions=6)
            baseline = producer_baseline(settings, args.events)
            rate, published = relay_throughput(store, settings, args.events)
            print(f"relay: {published} events, {rate:,.0f} events/s")
            print(f"baseline (bare producer, same size, no database): {baseline:,.0f} msg/s")
            print(f"relay / baseline: {rate / baseline:.2f}")
            samples = latency(store, settings, args.rate, args.seconds)
            p50, p99 = percentiles(samples)
            worst = max(samples) * 1000
            print(
                f"commit-to-topic at {args.rate:.0f} signals/s over {args.seconds:.0f} s:"
                f" n={len(samples)} p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms"
            )
            print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
