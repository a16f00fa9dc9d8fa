"""The composition root: settings → database → migrations → keyring, shared by API and CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mds.config import KeyProviderKind, OutboxMode, Settings
from mds.domain.signals import Signal
from mds.observability import API_PENDING_SIGNALS
from mds.security.keyring import Keyring
from mds.security.providers import KeyProvider, LocalKeyFileProvider
from mds.services.batcher import GroupCommit
from mds.services.ingest import IngestService
from mds.services.keys import load_keyring
from mds.services.rehearsal import warm_up
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.crowded_keys import CrowdedKeys
from mds.services.resolution.outcomes import SignalOutcome
from mds.services.resolution.term_counts import TermCounts
from mds.services.stewardship.operations import Stewardship
from mds.services.stewardship.review_queue import ReviewQueue
from mds.store import match_models, migrate
from mds.store.database import (
    make_engine,
    make_session_factory,
    release_embedded_servers,
    resolve_database_url,
)
from mds.streaming.kafka import ensure_topics
from mds.streaming.relay import Relay
from mds.streaming.serialization import (
    AvroSerializer,
    EventSerializer,
    JsonSerializer,
    SchemaRegistry,
    load_schema,
)
from mds.streaming.worker import IngestWorker

MODEL_REFRESH_SECONDS = 30.0


@dataclass
class Streams:
    """Background threads that run until `stop()`: each gets the shared stop event."""

    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    key_provider: KeyProvider
    keyring: Keyring

    # Sessions on autocommit connections for single-statement reads: no BEGIN/ROLLBACK round
    # trips (under READ COMMITTED each statement has its own snapshot either way). Unset (as
    # in tests sharing one connection), reads use `sessions`.
    read_sessions: sessionmaker[Session] | None = field(default=None, repr=False)
    _config: tuple[float, ResolutionConfig] | None = field(default=None, repr=False)
    _group_commit: GroupCommit[Signal, SignalOutcome] | None = field(default=None, repr=False)
    # Shared by every ingest service this process builds (one per batch, for the current
    # model). The API's group commit and the Kafka worker use them from their own threads: each
    # step is one dict or set operation, and a race costs at most a value asked again.
    _term_counts: TermCounts = field(default_factory=TermCounts, repr=False)
    _crowded_keys: CrowdedKeys = field(default_factory=CrowdedKeys, repr=False)

    def read_session(self) -> Session:
        return (self.read_sessions or self.sessions)()

    def resolution_config(self) -> ResolutionConfig:
        """The active model's config, re-read at most every MODEL_REFRESH_SECONDS."""
        cached = self._config
        if cached is not None and time.monotonic() - cached[0] < MODEL_REFRESH_SECONDS:
            return cached[1]
        with self.sessions() as session:
            parameters = match_models.active(session)
        config = ResolutionConfig.from_settings(self.settings, parameters)
        self._config = (time.monotonic(), config)
        return config

    def ingest_service(self) -> IngestService:
        return IngestService(
            self.sessions,
            self.keyring,
            self.resolution_config(),
            term_counts=self._term_counts,
            crowded_keys=self._crowded_keys,
        )

    def warm_up(self) -> None:
        """Rehearse resolving before serving (`mds.services.rehearsal`), with caches of its
        own: the made-up person's keys teach the shared ones nothing."""
        warm_up(lambda: IngestService(self.sessions, self.keyring, self.resolution_config()))

    def stewardship(self) -> Stewardship:
        return Stewardship(self.sessions, self.keyring, self.resolution_config())

    def review_queue(self) -> ReviewQueue:
        return ReviewQueue(self.sessions, self.keyring, self.stewardship())

    def relay(self) -> Relay:
        return Relay(self.settings, self.engine, self.keyring, self.event_serializer())

    def event_serializer(self) -> EventSerializer:
        if not self.settings.schema_registry_url:
            return JsonSerializer()
        registry = SchemaRegistry(self.settings.schema_registry_url)
        subject = f"{self.settings.user_topic}-value"
        return AvroSerializer(registry, subject, load_schema("user_event"))

    def worker(self) -> IngestWorker:
        registry = (
            SchemaRegistry(self.settings.schema_registry_url)
            if self.settings.schema_registry_url
            else None
        )
        return IngestWorker(
            self.settings, self.sessions, self.keyring, self.ingest_service, registry
        )

    def api_group_commit(self) -> GroupCommit[Signal, SignalOutcome]:
        """The API's signals resolve through one shared group commit (mds.services.batcher)."""
        if self._group_commit is None:
            self._group_commit = GroupCommit(
                lambda batch: self.ingest_service().ingest(batch, actor="api"),
                split_on=lambda exc: not isinstance(exc, OperationalError | InterfaceError),
                on_pending=API_PENDING_SIGNALS.set,
            )
        return self._group_commit

    def start_streams(self) -> Streams:
        """The relay and the ingestion worker as background threads, when Kafka is configured
        and `mds serve` was not told to leave them out."""
        streams = Streams()
        settings = self.settings
        if not settings.kafka_brokers:
            return streams
        if settings.serve_relay and settings.outbox_mode is OutboxMode.RELAY:
            ensure_topics(settings, [settings.user_topic])
            streams.start("mds-relay", self.relay().run)
        if settings.serve_worker:
            ensure_topics(settings, [*settings.ingest_topic_list, settings.dead_letter_topic])
            streams.start("mds-worker", self.worker().run)
        return streams

    def close(self) -> None:
        if self._group_commit is not None:
            self._group_commit.close()
        self.engine.dispose()
        if not self.settings.database_url:
            release_embedded_servers()


def make_key_provider(settings: Settings) -> KeyProvider:
    if settings.key_provider is KeyProviderKind.LOCAL:
        return LocalKeyFileProvider(settings.key_file_path)
    raise NotImplementedError(f"key provider {settings.key_provider}")  # pragma: no cover


def connect(settings: Settings) -> Engine:
    return make_engine(resolve_database_url(settings), settings)


def build_runtime(settings: Settings, *, run_migrations: bool | None = None) -> Runtime:
    engine = connect(settings)
    if settings.auto_migrate if run_migrations is None else run_migrations:
        migrate.upgrade(engine, settings)
    sessions = make_session_factory(engine)
    provider = make_key_provider(settings)
    reads = make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    return Runtime(
        settings, engine, sessions, provider, load_keyring(sessions, provider), read_sessions=reads
    )
