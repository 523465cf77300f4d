"""track each alert's episode: fingerprint, status, counts and its message

Revision ID: 0004_alerts
Revises: 0003_shadow
Create Date: 2026-12-04 19:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_alerts"
down_revision = "0003_shadow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column(
                "fingerprint", sa.String(length=160), nullable=False, server_default=""
            )
        )
        batch.add_column(
            sa.Column(
                "status", sa.String(length=16), nullable=False, server_default="firing"
            )
        )
        batch.add_column(
            sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("last_value", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("maintenance_window_id", sa.Integer(), nullable=True)
        )
        batch.add_column(
            sa.Column("slack_channel", sa.String(length=64), nullable=True)
        )
        batch.add_column(sa.Column("slack_ts", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            "fk_alerts_maintenance_window",
            "maintenance_windows",
            ["maintenance_window_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_alerts_fingerprint_status", ["fingerprint", "status"])
        batch.create_check_constraint(
            "ck_alerts_status", "status IN ('firing', 'resolved', 'suppressed')"
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("ck_alerts_status", type_="check")
        batch.drop_index("ix_alerts_fingerprint_status")
        batch.drop_constraint("fk_alerts_maintenance_window", type_="foreignkey")
        for column in (
            "slack_ts",
            "slack_channel",
            "maintenance_window_id",
            "last_notified_at",
            "last_seen_at",
            "last_value",
            "occurrences",
            "status",
            "fingerprint",
        ):
            batch.drop_column(column)
