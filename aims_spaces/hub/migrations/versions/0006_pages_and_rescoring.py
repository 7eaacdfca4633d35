"""Pages an owner writes (data, evaluation, rules), a record of changes to the eval data, and
submissions being scored again after such a change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pages", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("data_changes", sa.JSON(), nullable=True))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rescore_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.alter_column("rescore_pending", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("rescore_pending")
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.drop_column("data_changes")
        batch_op.drop_column("pages")
