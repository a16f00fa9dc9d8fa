"""The composition root: settings → database → migrations → keyring, shared by API and CLI."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.config import KeyProviderKind, Settings
from mds.security.keyring import Keyring
from mds.security.providers import KeyProvider, LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import migrate
from mds.store.database import (
    make_engine,
    make_session_factory,
    release_embedded_servers,
    resolve_database_url,
)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    key_provider: KeyProvider
    keyring: Keyring

    def close(self) -> None:
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
    return Runtime(settings, engine, sessions, provider, load_keyring(sessions, provider))
