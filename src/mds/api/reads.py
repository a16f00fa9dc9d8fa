"""Golden records by id on the event loop: the API's hottest read, through an asyncio pool.

A sync route pays a thread hand-off per step and, under load, waits for the GIL behind the
other request threads; reading on the event loop (psycopg's asyncio connections) served about
1.6 times the requests on two cores (bench/api.py). Only the plain hit takes this path: a
merged id goes through the threaded service code, so following merges lives in one place.
"""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool

from mds.bootstrap import Runtime
from mds.security.keyring import Keyring
from mds.store.users import UserRecord, fetch_user


class AsyncReads:
    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring) -> None:
        self.pool = pool
        self.keyring = keyring

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> AsyncReads | None:
        """A pool on the runtime's database; None for a runtime without read sessions of its
        own (the tests' runtime shares one connection in an open transaction: a pool would not
        see what it wrote)."""
        if runtime.read_sessions is None:
            return None
        settings = runtime.settings
        url = runtime.engine.url.set(drivername="postgresql")
        pool = AsyncConnectionPool(
            url.render_as_string(hide_password=False),
            # What mds.store.database.make_engine sets on the sync pool's connections.
            kwargs={
                "autocommit": True,
                "options": f"-c statement_timeout={settings.db_statement_timeout_ms}"
                " -c timezone=UTC",
                "application_name": "mds",
            },
            min_size=1,
            max_size=settings.db_pool_size,
            # A request waits this long for a connection (all busy, or the database away:
            # the pool keeps reconnecting), then answers 503 (mds.api.problems).
            timeout=settings.db_pool_timeout_seconds,
            check=AsyncConnectionPool.check_connection,  # as pool_pre_ping on the sync pool
            name="mds-reads",
            open=False,
        )
        return cls(pool, runtime.keyring)

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def user(self, user_id: uuid.UUID) -> UserRecord | None:
        """The record stored under this id (merged or not), None if there is none."""
        async with self.pool.connection() as connection:
            # A ciphertext under a data key this process has not seen yet makes the keyring
            # load it synchronously: a short block of the loop, once per key rotation.
            return await fetch_user(connection, self.keyring, user_id)
