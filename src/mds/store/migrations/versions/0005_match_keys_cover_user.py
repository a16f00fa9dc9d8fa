"""match_keys primary key covers user_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00

Candidate lookups read (source_identity_id, user_id) for a key. With user_id in the primary
key's index (INCLUDE) they are index-only scans; before, every row found cost a heap page read,
which in a 1M-user store made the candidate query most of a batch's database time.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_match_keys", "match_keys", type_="primary")
    op.execute(
        "ALTER TABLE match_keys ADD CONSTRAINT pk_match_keys"
        " PRIMARY KEY (key_type, key_hash, source_identity_id) INCLUDE (user_id)"
    )


def downgrade() -> None:
    op.drop_constraint("pk_match_keys", "match_keys", type_="primary")
    op.create_primary_key(
        "pk_match_keys", "match_keys", ["key_type", "key_hash", "source_identity_id"]
    )
