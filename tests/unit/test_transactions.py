from sqlalchemy.exc import DBAPIError

from mds.services.transactions import ConcurrentChangeError, retry_reason


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        self.sqlstate = sqlstate


def test_deadlocks_serialization_failures_and_stale_reads_are_retried() -> None:
    def db_error(sqlstate: str) -> DBAPIError:
        return DBAPIError("SELECT 1", {}, _PgError(sqlstate))

    assert retry_reason(db_error("40P01")) == "40P01"
    assert retry_reason(db_error("40001")) == "40001"
    assert retry_reason(ConcurrentChangeError("user changed")) == "concurrent change"
    assert retry_reason(db_error("23505")) is None  # a unique violation is a bug, not a race
