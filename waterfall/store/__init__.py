"""The store: SQLAlchemy models, engine and session handling, Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from waterfall.store.db import make_engine, make_session_factory, migrate, session_scope


class Store:
    """One database: its engine and a session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on error."""
        with session_scope(self.sessions) as session:
            yield session

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        migrate(self.url)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
