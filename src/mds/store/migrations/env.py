"""Alembic environment: always run through mds.store.migrate with a connection handed in."""

from __future__ import annotations

from alembic import context

from mds.store.migrate import include_object
from mds.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `mds db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
