"""Alembic environment: runs migrations online against the configured URL."""

from alembic import context

from waterfall.store.db import make_engine
from waterfall.store.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError(
            "alembic config has no sqlalchemy.url: use waterfall.store.db.migrate"
        )
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
