"""Small helpers shared by integration tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from mds.config import Settings, load_settings
from mds.security.keyring import Keyring
from mds.store import match_keys
from mds.store import source_identities as identities
from mds.store import users as user_store
from mds.store.source_identities import IdentityRow
from mds.store.users import UserRow


def settings_for(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    return load_settings(database_url=database_url, data_dir=data_dir, **overrides)


def identities_with_key(
    session: Session, keyring: Keyring, key: tuple[str, bytes], count: int
) -> None:
    """`count` users, each with one linked identity carrying only `key`."""
    now = datetime.now(UTC)
    people = [UserRow(uuid.uuid4(), "active", None, 1, now) for _ in range(count)]
    user_store.insert_users(session, people)
    rows = [IdentityRow(uuid.uuid4(), "crm", str(uuid.uuid4()), u.id, {}, None) for u in people]
    identities.insert_rows(session, keyring, rows)
    match_keys.replace_keys(session, [(r.id, r.user_id, [key]) for r in rows])


def run_concurrently(*work: Callable[[], object]) -> None:
    """Each callable in a thread of its own, all at once; fails naming every exception raised."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
