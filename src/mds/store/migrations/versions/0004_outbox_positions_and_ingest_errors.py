"""outbox positions, insert notifications and ingest errors

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:20:00

The outbox gets a commit-ordered `position` (given by the sequencer from its own sequence) and
a statement-level trigger that NOTIFYs `mds_outbox` so the relay wakes at once; Kafka messages
the ingestion worker cannot use are recorded in `ingest_errors`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute("CREATE SEQUENCE outbox_position_seq AS bigint")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.create_index(
        "ix_outbox_unsequenced",
        "outbox",
        ["seq"],
        postgresql_where=sa.text("position IS NULL"),
    )
    op.create_index("uq_outbox_position", "outbox", ["position"], unique=True)
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL AND position IS NOT NULL"),
    )
    op.execute(
        """
        CREATE FUNCTION mds_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mds_outbox', '');
            RETURN NULL;
        END $$
        """
    )
    # Per statement, not per row: one wake-up per batch, and NOTIFY is delivered at commit.
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION mds_outbox_notify()"
    )
    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=True),
        sa.Column("payload_size", sa.Integer(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_errors")),
        sa.UniqueConstraint(
            "topic", "partition", "offset", name=op.f("uq_ingest_errors_topic_partition_offset")
        ),
    )


def downgrade() -> None:
    op.drop_table("ingest_errors")
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION mds_outbox_notify()")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_index("uq_outbox_position", table_name="outbox")
    op.drop_index("ix_outbox_unsequenced", table_name="outbox")
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL")
    )
    op.execute("DROP SEQUENCE outbox_position_seq")
    op.drop_column("outbox", "position")
