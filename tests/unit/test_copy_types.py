"""Binary COPY names each column's exact PostgreSQL type; every mapped column must have one."""

from __future__ import annotations

import psycopg
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from mds.store.bulk import copy_type
from mds.store.models import Base

DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
COPY_TYPES = {
    f"{t.name}.{c.name}": copy_type(c.type, DIALECT)
    for t in Base.metadata.sorted_tables
    for c in t.c
}


def test_every_column_copies_as_a_type_psycopg_knows() -> None:
    unknown = {c: n for c, n in COPY_TYPES.items() if psycopg.adapters.types.get(n) is None}
    assert not unknown


def test_widths_and_floats_keep_their_binary_form() -> None:
    assert COPY_TYPES["signals.id"] == "bigint"
    assert COPY_TYPES["source_identities.match_score"] == "float8"
    assert COPY_TYPES["match_keys.key_hash"] == "bytea"
    assert COPY_TYPES["source_identities.created_at"] == "timestamp with time zone"
