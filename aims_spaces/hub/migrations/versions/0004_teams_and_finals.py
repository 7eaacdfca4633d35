"""Teams, final selections, co-owners and the metrics a playground shows.

Playgrounds get a competition start, the number of final entries each team may select, a team
size limit and the metric columns they show; members a role (member or co-owner); submissions
the team they belong to and whether they are selected as final.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playground_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("invite_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["playground_id"], ["playgrounds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_hash"),
        sa.UniqueConstraint("playground_id", "name"),
    )
    op.create_index(op.f("ix_teams_playground_id"), "teams", ["playground_id"], unique=False)
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("playground_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["playground_id"], ["playgrounds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
        sa.UniqueConstraint("playground_id", "user_id"),
    )
    op.create_index(op.f("ix_team_members_playground_id"), "team_members", ["playground_id"], unique=False)
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("competition_start", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("final_selections", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("team_size_limit", sa.Integer(), nullable=False, server_default="4"))
        batch_op.add_column(sa.Column("shown_metrics", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("entrants_changed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.alter_column("final_selections", existing_type=sa.Integer(), server_default=None)
        batch_op.alter_column("team_size_limit", existing_type=sa.Integer(), server_default=None)
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="member"))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=16), server_default=None)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("selected", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_submissions_team_id"), ["team_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_submissions_team_id", "teams", ["team_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.alter_column("selected", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_submissions_team_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_submissions_team_id"))
        batch_op.drop_column("selected")
        batch_op.drop_column("team_id")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("role")
    with op.batch_alter_table("playgrounds", schema=None) as batch_op:
        batch_op.drop_column("entrants_changed_at")
        batch_op.drop_column("shown_metrics")
        batch_op.drop_column("team_size_limit")
        batch_op.drop_column("final_selections")
        batch_op.drop_column("competition_start")
    op.drop_index(op.f("ix_team_members_playground_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_index(op.f("ix_teams_playground_id"), table_name="teams")
    op.drop_table("teams")
