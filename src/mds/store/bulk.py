"""COPY-based bulk inserts: the fastest way to land many rows inside the current transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, Table, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import QueryableAttribute, Session

Column = ColumnElement[Any] | QueryableAttribute[Any]


def copy_rows(session: Session, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """COPY `rows` (dicts keyed by column name, all with the same keys) into `table`.

    Measured: even for one row, COPY beats a compiled multi-row INSERT here (SQLAlchemy compiles
    a new statement for each row count)."""
    materialized: Sequence[dict[str, Any]] = rows if isinstance(rows, list) else list(rows)
    if not materialized:
        return 0
    columns = list(materialized[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSONB)}
    raw = session.connection().connection.driver_connection
    assert raw is not None
    column_list = ", ".join(f'"{c}"' for c in columns)
    with (
        raw.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({column_list}) FROM STDIN') as copy,
    ):
        for row in materialized:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])
    return len(materialized)


def any_of(column: Column, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one bound array whatever the list's length.

    `IN (...)` binds one parameter per value, so each list length is a new statement for the
    driver to parse (measured: about a tenth of a bulk import's Python time went to that)."""
    array = bindparam(None, list(values), type_=ARRAY(column.expression.type))
    return column == any_(array)


def pairs_in(
    first: Column, second: Column, pairs: Iterable[tuple[Any, Any]]
) -> ColumnElement[bool]:
    """`(first, second) IN (unnest(:firsts, :seconds))`, bound as two arrays."""
    wanted = list(pairs)
    values = (
        func.unnest(
            bindparam(None, [a for a, _ in wanted], type_=ARRAY(first.expression.type)),
            bindparam(None, [b for _, b in wanted], type_=ARRAY(second.expression.type)),
        )
        .table_valued("a", "b")
        .render_derived()
    )
    return tuple_(first, second).in_(select(values.c.a, values.c.b))
