"""add the shadow switch and the record of reused vendor calls

Revision ID: 0003_shadow
Revises: 0002
Create Date: 2026-12-04 18:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_shadow"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_state",
        sa.Column("rollout_name", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("aa_share", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("share >= 0 AND share <= 1", name="ck_shadow_share_range"),
        sa.CheckConstraint(
            "aa_share >= 0 AND aa_share <= 1", name="ck_shadow_aa_share_range"
        ),
        sa.PrimaryKeyConstraint("rollout_name"),
    )
    op.create_table(
        "shadow_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_name", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("aa_share", sa.Float(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shadow_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shadow_history_rollout_name"),
            ["rollout_name"],
            unique=False,
        )
    # Existing rows predate shadow traffic, so they saved nothing.
    with op.batch_alter_table("search_executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cost_saved", sa.Float(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("vendor_calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reused_from", sa.String(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cost_saved", sa.Float(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("vendor_calls", schema=None) as batch_op:
        batch_op.drop_column("cost_saved")
        batch_op.drop_column("reused_from")
    with op.batch_alter_table("search_executions", schema=None) as batch_op:
        batch_op.drop_column("cost_saved")
    with op.batch_alter_table("shadow_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shadow_history_rollout_name"))
    op.drop_table("shadow_history")
    op.drop_table("shadow_state")
