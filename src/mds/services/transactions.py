"""Running a unit of work in one transaction, retried on deadlock or serialization failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)
RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5
T = TypeVar("T")


def in_transaction(sessions: Callable[[], Session], work: Callable[[Session], T]) -> T:
    """`work` in a fresh transaction; rolled back and run again when PostgreSQL asks for it."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with sessions() as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in RETRYABLE or attempt == MAX_ATTEMPTS:
                raise
            log.warning("transaction.retry", attempt=attempt, sqlstate=code)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")
