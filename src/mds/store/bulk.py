"""COPY-based bulk inserts: the fastest way to land many rows inside the current transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, Table, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import TypeEngine

from mds.store import driver
from mds.store.driver import sqlalchemy_errors

Column = ColumnElement[Any] | QueryableAttribute[Any]
# SQLAlchemy's Float compiles to FLOAT, which PostgreSQL reads as double precision.
_PG_ALIASES = {"float": "float8"}


def copy_rows(session: Session, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """COPY `rows` (dicts keyed by column name, all with the same keys) into `table`; inside
    `driver.pipelined`, one multi-row INSERT, since COPY cannot be pipelined.

    Measured: even for one row, COPY beats a compiled multi-row INSERT here (SQLAlchemy compiles
    a new statement for each row count); pipelined, the INSERT waits for nothing. Binary,
    because the text form formats every id, hash and time in Python (binary took copy_rows
    from 9.8% of a bulk import's samples to 8.0%)."""
    materialized: Sequence[dict[str, Any]] = rows if isinstance(rows, list) else list(rows)
    if not materialized:
        return 0
    connection = session.connection()
    if driver.is_pipelined(session):
        _insert_values(session, table, materialized, connection.dialect)
        return len(materialized)
    columns = list(materialized[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSONB)}
    raw = connection.connection.driver_connection
    assert raw is not None
    column_list = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({column_list}) FROM STDIN (FORMAT BINARY)'
    with (
        sqlalchemy_errors(statement, None),
        raw.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        copy.set_types(_copy_types(table, tuple(columns), connection.dialect))
        for row in materialized:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])
    return len(materialized)


def _insert_values(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], dialect: Dialect
) -> None:
    """The rows as one multi-row INSERT: COPY cannot be pipelined."""
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSONB)}
    key = (table.name, tuple(columns), len(rows))
    statement = _INSERTS.get(key)
    if statement is None:
        types = _copy_types(table, tuple(columns), dialect)
        row = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        column_list = ", ".join(f'"{c}"' for c in columns)
        statement = f'INSERT INTO "{table.name}" ({column_list}) VALUES ' + ", ".join(
            [row] * len(rows)
        )
        if len(_INSERTS) < _MAX_INSERTS:
            _INSERTS[key] = statement
    values = [Jsonb(r[c]) if c in json_columns else r[c] for r in rows for c in columns]
    driver.execute(session, statement, values)


_INSERTS: dict[tuple[str, tuple[str, ...], int], str] = {}
_MAX_INSERTS = 1024


def _copy_types(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[str]:
    """The COPY types of these columns, worked out once per table and columns: compiling a
    column's type goes through SQLAlchemy's compiler (22-37 us per table, 0.5 us cached), and
    a one-signal batch makes six COPYs."""
    key = (table.name, columns, dialect.name)
    types = _COPY_TYPES.get(key)
    if types is None:
        types = _COPY_TYPES[key] = [copy_type(table.c[c].type, dialect) for c in columns]
    return types


_COPY_TYPES: dict[tuple[str, tuple[str, ...], str], list[str]] = {}


def copy_type(column_type: TypeEngine[Any], dialect: Dialect) -> str:
    """The PostgreSQL type a binary COPY sends for a column: exactly the column's own, since
    binary formats differ even between integer widths."""
    name = re.sub(r"\(.*\)", "", column_type.compile(dialect=dialect)).strip().lower()
    return _PG_ALIASES.get(name, name)


def any_of(column: Column, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one bound array whatever the list's length.

    `IN (...)` binds one parameter per value, so each list length is a new statement for the
    driver to parse (measured: about a tenth of a bulk import's Python time went to that)."""
    array = bindparam(None, list(values), type_=ARRAY(column.expression.type))
    return column == any_(array)


def any_bound(column: Column, name: str) -> ColumnElement[bool]:
    """`column = ANY(:name)`, the array bound when executed: for statements compiled once."""
    return column == any_(bindparam(name, type_=ARRAY(column.expression.type)))


def pairs_bound(first: Column, second: Column, names: tuple[str, str]) -> ColumnElement[bool]:
    """`(first, second) IN (unnest(:a, :b))`, the two arrays bound when executed."""
    values = (
        func.unnest(
            bindparam(names[0], type_=ARRAY(first.expression.type)),
            bindparam(names[1], type_=ARRAY(second.expression.type)),
        )
        .table_valued("a", "b")
        .render_derived()
    )
    return tuple_(first, second).in_(select(values.c.a, values.c.b))


def column_arrays(rows: Sequence[tuple[Any, ...]], *names: str) -> dict[str, list[Any]]:
    """Rows as one bound array per column (`names` in column order), for `unnest`."""
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def rows_changed(result: object) -> int:
    """Rows a DML statement's result says it changed (`Session.execute` is typed as returning
    a plain Result, which has no rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)
