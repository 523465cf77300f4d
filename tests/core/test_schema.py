"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from waterfall.store import Store
from waterfall.store.models import Base


def test_migrated_schema_matches_the_models(store: Store) -> None:
    store.migrate()
    with store.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), Base.metadata
        )
    assert differences == []


def test_migrating_twice_changes_nothing(store: Store) -> None:
    store.migrate()
    store.migrate()
    with store.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    assert revision is not None
