"""Objects in the stores that a crash could leave with no row naming them (eval data, artifacts),
noted until they are named or removed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("noted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_removals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_removals_key"), ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_removals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_removals_key"))
    op.drop_table("pending_removals")
