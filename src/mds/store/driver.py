"""Statements run on the session's own psycopg connection, compiled once.

A one-signal batch (a single POST) makes about twenty statements, and SQLAlchemy's execution of
each (cache key, compiled cache, result set-up) cost 0.15-0.45 ms of CPU here against
0.05-0.10 ms for psycopg alone: about a third of the batch's CPU, and the fixed cost that every
group commit pays. The resolution path's statements therefore stay SQLAlchemy constructs or
text, compiled for PostgreSQL once at import, and run on the driver in the session's
transaction. The session must hold no pending ORM changes: nothing here flushes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def compiled(statement: ClauseElement) -> str:
    """PostgreSQL text with psycopg's `%(name)s` placeholders. Every parameter is bound when
    the statement runs: a value carried by the construct (`column == "x"`) would be lost, so
    it is refused here, at import; write constants as SQL (`literal_column`, `text`)."""
    result = statement.compile(dialect=_DIALECT)
    carried = sorted(name for name, value in result.params.items() if value is not None)
    if carried:
        raise ValueError(f"parameters with values cannot be compiled once: {carried}")
    return str(result)


def connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's transaction (begun if it was not)."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def as_sqlalchemy_error(exc: psycopg.Error, sql: str, params: dict[str, Any] | None) -> Exception:
    """psycopg's error as SQLAlchemy raises it (OperationalError for a deadlock, and so on),
    so that retries and callers see one kind of error whichever way a statement ran. The
    parameters are left out of the message: they are hashes, ids and ciphertexts of PII."""
    return DBAPIError.instance(
        sql, params, exc, psycopg.Error, hide_parameters=True, dialect=_DIALECT
    )


@contextmanager
def sqlalchemy_errors(sql: str, params: dict[str, Any] | None) -> Iterator[None]:
    """`as_sqlalchemy_error` for a block (a COPY)."""
    try:
        yield
    except psycopg.Error as exc:
        raise as_sqlalchemy_error(exc, sql, params) from exc


def rows(session: Session, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Every row, as named tuples (columns by name, as SQLAlchemy's rows)."""
    with connection(session).cursor(row_factory=namedtuple_row) as cursor:
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(exc, sql, params) from exc


def tuples(session: Session, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Every row, as plain tuples."""
    with connection(session).cursor() as cursor:
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(exc, sql, params) from exc


def one(session: Session, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The only row."""
    found = tuples(session, sql, params)
    if len(found) != 1:
        raise RuntimeError(f"expected one row, got {len(found)}: {sql[:80]}")
    return tuple(found[0])


def execute(
    session: Session, sql: str, params: dict[str, Any] | Sequence[Any] | None = None
) -> None:
    """Run a statement whose result is not wanted. Inside `pipelined` it is only sent: its
    errors are raised where the pipeline next waits for results."""
    with connection(session).cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(exc, sql, None) from exc


def execute_many(session: Session, sql: str, params: Sequence[dict[str, Any]]) -> None:
    """Run a statement once per parameter set, in one round trip (psycopg pipelines them)."""
    if not params:
        return
    with connection(session).cursor() as cursor:
        try:
            cursor.executemany(sql, params)
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(exc, sql, None) from exc


_PIPELINED = "mds.pipelined"


@contextmanager
def pipelined(session: Session, enabled: bool = True) -> Iterator[None]:
    """Send the block's statements without waiting for each one's result (libpq's pipeline
    mode); a statement whose rows are read waits for everything sent before it, and an error
    is raised by the first statement or block end that waits after it.

    A one-signal batch writes a dozen times, and each round trip costs both processes a
    wake-up: pipelined, the writes travel together while this side prepares the next. Only
    the driver's statements may run inside, never SQLAlchemy's (it reads each result as it
    executes: `refuse_inside_pipeline` stops them), and no COPY: `bulk.copy_rows` inserts
    instead when it sees the pipeline."""
    if not enabled or is_pipelined(session):
        yield
        return
    raw = connection(session)
    session.info[_PIPELINED] = True
    try:
        with raw.pipeline():
            yield
    except psycopg.Error as exc:
        raise as_sqlalchemy_error(exc, "(a pipelined statement)", None) from exc
    finally:
        del session.info[_PIPELINED]


def is_pipelined(session: Session) -> bool:
    return bool(session.info.get(_PIPELINED))


def refuse_inside_pipeline(
    conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    """An engine's `before_cursor_execute` listener: SQLAlchemy would read a pipelined
    statement's result before it came back, and take it for one without rows."""
    raw = conn.connection.driver_connection
    if isinstance(raw, psycopg.Connection) and raw.pgconn.pipeline_status:
        raise RuntimeError(f"a SQLAlchemy statement inside driver.pipelined: {statement[:80]}")
