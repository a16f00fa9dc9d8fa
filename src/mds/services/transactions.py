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


class ConcurrentChangeError(Exception):
    """What a transaction read was changed by another before it wrote: run it again."""


def in_transaction(sessions: Callable[[], Session], work: Callable[[Session], T]) -> T:
    """`work` in a fresh transaction; rolled back and run again when PostgreSQL asks for it
    (deadlock, serialization failure) or the work found its reads stale."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with sessions() as session, session.begin():
                return work(session)
        except (DBAPIError, ConcurrentChangeError) as exc:
            reason = retry_reason(exc)
            if reason is None or attempt == MAX_ATTEMPTS:
                raise
            log.warning("transaction.retry", attempt=attempt, reason=reason)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def retry_reason(exc: Exception) -> str | None:
    if isinstance(exc, ConcurrentChangeError):
        return "concurrent change"
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code if code in RETRYABLE else None
