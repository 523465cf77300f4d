"""keep the Slack message of each rollout stage

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollout_stages") as batch:
        batch.add_column(sa.Column("slack_channel", sa.String(length=64)))
        batch.add_column(sa.Column("slack_ts", sa.String(length=32)))


def downgrade() -> None:
    with op.batch_alter_table("rollout_stages") as batch:
        batch.drop_column("slack_ts")
        batch.drop_column("slack_channel")
