"""COPY-based bulk inserts: the fastest way to land many rows inside the current transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session


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
