"""match_keys and attribute_lineage without foreign keys; no match_keys index on user_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00

Only the resolution engine writes these two tables, in the transaction that writes the rows they
point at, and nothing deletes a user, an identity or a signal. Their foreign keys guarded
nothing the engine does not already hold, and cost a lookup and a row lock per row (about a dozen
keys and as many lineage rows per signal): measured on the 1M-user bench store, a fifth of
PostgreSQL's CPU per signal. The user_id index served only the repointing of a merged user's
keys, which the engine already rewrites with the identities it moves.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = [
    # (table, constraint, column, referred table, ON DELETE)
    (
        "match_keys",
        "fk_match_keys_source_identity_id_source_identities",
        "source_identity_id",
        "source_identities",
        "CASCADE",
    ),
    ("match_keys", "fk_match_keys_user_id_canonical_users", "user_id", "canonical_users", None),
    (
        "attribute_lineage",
        "fk_attribute_lineage_user_id_canonical_users",
        "user_id",
        "canonical_users",
        None,
    ),
    (
        "attribute_lineage",
        "fk_attribute_lineage_source_identity_id_source_identities",
        "source_identity_id",
        "source_identities",
        "SET NULL",
    ),
    ("attribute_lineage", "fk_attribute_lineage_signal_id_signals", "signal_id", "signals", None),
]


def upgrade() -> None:
    for table, name, _column, _referred, _on_delete in _FOREIGN_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
    op.drop_index("ix_match_keys_user_id", table_name="match_keys")


def downgrade() -> None:
    op.create_index("ix_match_keys_user_id", "match_keys", ["user_id"])
    for table, name, column, referred, on_delete in _FOREIGN_KEYS:
        op.create_foreign_key(name, table, referred, [column], ["id"], ondelete=on_delete)
