"""Initial schema: users, API tokens, playgrounds, members, submissions, deployments.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "playgrounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("input_type", sa.String(length=16), nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("eval_metric", sa.String(length=32), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=True),
        sa.Column("feature_schema", sa.JSON(), nullable=False),
        sa.Column("eval_data_id", sa.String(length=64), nullable=False),
        sa.Column("n_eval_rows", sa.Integer(), nullable=False),
        sa.Column("has_eval_features", sa.Boolean(), nullable=False),
        sa.Column("public_fraction", sa.Float(), nullable=False),
        sa.Column("competition_deadline", sa.DateTime(), nullable=True),
        sa.Column("competition_closed_at", sa.DateTime(), nullable=True),
        sa.Column("daily_submission_limit", sa.Integer(), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("eval_data_id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playgrounds_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "members",
        sa.Column("playground_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["playground_id"], ["playgrounds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("playground_id", "user_id"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playground_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("submission_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("scored_at", sa.DateTime(), nullable=True),
        sa.Column("model_sha256", sa.String(length=64), nullable=True),
        sa.Column("original_sha256", sa.String(length=64), nullable=True),
        sa.Column("predictions_sha256", sa.String(length=64), nullable=True),
        sa.Column("framework", sa.String(length=32), nullable=True),
        sa.Column("model_type", sa.String(length=128), nullable=True),
        sa.Column("model_metadata", sa.JSON(), nullable=False),
        sa.Column("custom_metadata", sa.JSON(), nullable=False),
        sa.Column("onnx_metadata", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("mismatch_fraction", sa.Float(), nullable=True),
        sa.Column("scored_predictions_sha256", sa.String(length=64), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("evaluated_by", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["playground_id"], ["playgrounds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("playground_id", "version"),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_playground_id"), ["playground_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submissions_scored_predictions_sha256"),
            ["scored_predictions_sha256"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_submissions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_submissions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playground_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("deployed_at", sa.DateTime(), nullable=False),
        sa.Column("deployed_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(["playground_id"], ["playgrounds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("playground_id"),
    )


def downgrade() -> None:
    op.drop_table("deployments")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submissions_user_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_status"))
        batch_op.drop_index(batch_op.f("ix_submissions_scored_predictions_sha256"))
        batch_op.drop_index(batch_op.f("ix_submissions_playground_id"))

    op.drop_table("submissions")
    op.drop_table("members")
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playgrounds_owner_id"))

    op.drop_table("playgrounds")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
