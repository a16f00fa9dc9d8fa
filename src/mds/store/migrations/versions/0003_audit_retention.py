"""audit retention: anchors, partition drop function, TRUNCATE guard on every partition

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:30:00.000000

- `audit_anchors` keeps the chain ends of each partition retention drops, so verification of
  what remains still starts from a known hash; a trigger makes it append-only.
- `mds_audit_drop_partition(name, retention)` is the only sanctioned way to drop an audit
  partition: it refuses a retention below the 7-year floor and a partition that is not entirely
  older than the retention, drops oldest first, and writes the anchor in the same transaction.
- A statement-level TRUNCATE trigger on the partitioned table does not fire for
  `TRUNCATE audit_log_pYYYYMM` (only row triggers are cloned to partitions), so every partition
  gets its own; `mds_audit_ensure_partition` now adds it to the partitions it creates.
- Both functions are SECURITY DEFINER with a pinned search_path: an application role that does
  not own the tables (the recommended deployment) can still create the month's partition and run
  retention, but cannot drop, detach or alter audit tables itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a later change of the Python floor must not move the database's.
RETENTION_FLOOR = "7 years"

ENSURE_PARTITION = """
CREATE OR REPLACE FUNCTION mds_audit_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    month_start timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    part text := 'audit_log_p' || to_char(month_start, 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NULL THEN
        -- Concurrent writers at a month boundary would race on CREATE TABLE.
        PERFORM pg_advisory_xact_lock(hashtext('mds.audit_partitions'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                part,
                month_start AT TIME ZONE 'UTC',
                (month_start + interval '1 month') AT TIME ZONE 'UTC'
            );
            EXECUTE format(
                'CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %I'
                ' FOR EACH STATEMENT EXECUTE FUNCTION mds_audit_log_is_append_only()',
                part
            );
        END IF;
    END IF;
    RETURN part;
END $$
"""

# As revision 0001 made it (for downgrade).
ENSURE_PARTITION_0001 = """
CREATE OR REPLACE FUNCTION mds_audit_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    part text := 'audit_log_p' || to_char(month_start, 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NULL THEN
        -- Concurrent writers at a month boundary would race on CREATE TABLE.
        PERFORM pg_advisory_xact_lock(hashtext('mds.audit_partitions'));
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
            part,
            month_start AT TIME ZONE 'UTC',
            (month_start + interval '1 month') AT TIME ZONE 'UTC'
        );
    END IF;
    RETURN part;
END $$
"""

# The partitions of audit_log with their bounds, parsed from the catalog (not from the name).
PARTITIONS_VIEW = """
CREATE OR REPLACE FUNCTION mds_audit_partitions()
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE SET search_path = {schema}, pg_temp AS $$
    SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(
        pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)'
    ) AS b
    WHERE i.inhparent = 'audit_log'::regclass
    ORDER BY 2
$$
"""

DROP_PARTITION = """
CREATE OR REPLACE FUNCTION mds_audit_drop_partition(
    partition_name text, retention interval DEFAULT interval '{floor}'
) RETURNS audit_anchors
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    floor_interval constant interval := interval '{floor}';
    part record;
    anchor audit_anchors;
BEGIN
    -- The floor lives here, not only in the application: no caller can shorten it.
    IF retention < floor_interval THEN
        RAISE EXCEPTION 'audit retention % is below the floor of %', retention, floor_interval
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO part FROM mds_audit_partitions() p WHERE p.partition_name = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a partition of audit_log', $1
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF part.range_end > now() - retention THEN
        RAISE EXCEPTION 'audit partition % (rows up to %) is not older than the retention of %',
            $1, part.range_end, retention
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Oldest first, so what remains is always a suffix of the chain.
    IF EXISTS (SELECT 1 FROM mds_audit_partitions() p WHERE p.range_start < part.range_start) THEN
        RAISE EXCEPTION 'audit partition % is not the oldest; drop older partitions first', $1
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- No row may land in it between anchoring and dropping.
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', $1);
    anchor.partition_name := $1;
    anchor.range_start := part.range_start;
    anchor.range_end := part.range_end;
    EXECUTE format('SELECT count(*), min(seq), max(seq) FROM %I', $1)
        INTO anchor.row_count, anchor.first_seq, anchor.last_seq;
    IF anchor.row_count > 0 THEN
        EXECUTE format('SELECT prev_hash FROM %I WHERE seq = $1 ORDER BY occurred_at LIMIT 1', $1)
            INTO anchor.first_prev_hash USING anchor.first_seq;
        EXECUTE format(
            'SELECT row_hash FROM %I WHERE seq = $1 ORDER BY occurred_at DESC LIMIT 1', $1
        ) INTO anchor.last_row_hash USING anchor.last_seq;
    END IF;
    anchor.dropped_at := now();
    INSERT INTO audit_anchors (
        partition_name, range_start, range_end, row_count,
        first_seq, first_prev_hash, last_seq, last_row_hash, dropped_at
    ) VALUES (
        anchor.partition_name, anchor.range_start, anchor.range_end, anchor.row_count,
        anchor.first_seq, anchor.first_prev_hash, anchor.last_seq, anchor.last_row_hash,
        anchor.dropped_at
    );
    EXECUTE format('DROP TABLE %I', $1);
    -- A remaining row at or below the anchor's last seq would make the chain unverifiable.
    IF EXISTS (SELECT 1 FROM audit_log WHERE seq <= anchor.last_seq) THEN
        RAISE EXCEPTION 'audit partition % overlaps later partitions in seq; not dropped', $1
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN anchor;
END $$
"""

ANCHORS_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION mds_audit_anchors_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchors is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION mds_audit_anchors_are_append_only();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION mds_audit_anchors_are_append_only();
"""

# Partitions made before this revision get the TRUNCATE guard too.
GUARD_EXISTING_PARTITIONS = """
DO $$
DECLARE part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass
          AND NOT EXISTS (
              SELECT 1 FROM pg_trigger t
              WHERE t.tgrelid = c.oid AND t.tgname = 'audit_log_no_truncate'
          )
    LOOP
        EXECUTE format(
            'CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %I'
            ' FOR EACH STATEMENT EXECUTE FUNCTION mds_audit_log_is_append_only()',
            part
        );
    END LOOP;
END $$
"""

UNGUARD_PARTITIONS = """
DO $$
DECLARE part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_log_no_truncate ON %I', part);
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("partition_name", sa.String(length=64), nullable=False),
        sa.Column("range_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("range_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("first_prev_hash", sa.LargeBinary(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_row_hash", sa.LargeBinary(), nullable=True),
        sa.Column(
            "dropped_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "row_count = 0 OR (first_seq IS NOT NULL AND first_prev_hash IS NOT NULL"
            " AND last_seq IS NOT NULL AND last_row_hash IS NOT NULL)",
            name=op.f("ck_audit_anchors_ends_known"),
        ),
        sa.PrimaryKeyConstraint("partition_name", name=op.f("pk_audit_anchors")),
    )
    schema = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(ANCHORS_APPEND_ONLY)
    op.execute(ENSURE_PARTITION.format(schema=schema))
    op.execute(PARTITIONS_VIEW.format(schema=schema))
    op.execute(DROP_PARTITION.format(schema=schema, floor=RETENTION_FLOOR))
    # Dropping audit data is for whoever runs retention, granted explicitly (README).
    op.execute("REVOKE EXECUTE ON FUNCTION mds_audit_drop_partition(text, interval) FROM PUBLIC")
    op.execute(GUARD_EXISTING_PARTITIONS)


def downgrade() -> None:
    op.execute(UNGUARD_PARTITIONS)
    op.execute("DROP FUNCTION IF EXISTS mds_audit_drop_partition(text, interval)")
    op.execute("DROP FUNCTION IF EXISTS mds_audit_partitions()")
    op.execute(ENSURE_PARTITION_0001)
    op.drop_table("audit_anchors")
    op.execute("DROP FUNCTION IF EXISTS mds_audit_anchors_are_append_only()")
