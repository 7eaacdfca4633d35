"""API tokens expire and have a kind (api or web session); submissions and playgrounds record the
bytes they store, for the per-account storage limit.

Tokens issued before this revision expire 90 days after they were issued.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="api"))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.Integer()),
        sa.column("created_at", sa.DateTime()),
        sa.column("expires_at", sa.DateTime()),
    )
    conn = op.get_bind()
    for token_id, created_at in conn.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        conn.execute(
            tokens.update().where(tokens.c.id == token_id).values(expires_at=created_at + timedelta(days=90))
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=16), server_default=None)
        batch_op.create_index(batch_op.f("ix_api_tokens_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_bytes", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.alter_column("data_bytes", existing_type=sa.BigInteger(), server_default=None)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.alter_column("stored_bytes", existing_type=sa.BigInteger(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.drop_column("data_bytes")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_expires_at"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("kind")
