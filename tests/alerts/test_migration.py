"""The alerts migration: up, down and up again, and in step with the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from waterfall.store import Store
from waterfall.store.db import alembic_config
from waterfall.store.models import Base

ADDED = {
    "fingerprint",
    "status",
    "occurrences",
    "last_value",
    "last_seen_at",
    "last_notified_at",
    "maintenance_window_id",
    "slack_channel",
    "slack_ts",
}


def alert_columns(store: Store) -> set[str]:
    return {column["name"] for column in inspect(store.engine).get_columns("alerts")}


class TestAlertsMigration:
    def test_downgrade_and_upgrade_again(self, store: Store) -> None:
        config = alembic_config(store.url)

        command.downgrade(config, "0003_shadow")
        assert not ADDED & alert_columns(store)

        command.upgrade(config, "head")
        assert alert_columns(store) >= ADDED

    def test_alerts_table_matches_model(self, store: Store) -> None:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, Base.metadata)

        about_alerts = [d for d in differences if "alerts" in repr(d)]
        assert about_alerts == []
