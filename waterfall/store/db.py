"""Engine and session handling, and schema migration through Alembic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from waterfall.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

# libpq's limit on the whole connection start, in seconds. Without it, a
# server that accepts the TCP connection and never replies blocks a rollback
# command (and every search) forever.
CONNECT_TIMEOUT_S = 5

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def require_existing_sqlite(url: str) -> None:
    """Raise StoreError when url names a SQLite file that does not exist."""
    parsed = make_url(normalise_url(url))
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return
    if not Path(database).exists():
        raise StoreError(
            f"no store at {database}: check WATERFALL_DATABASE_URL, or run "
            "`waterfall init` to create one there"
        )


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets a busy timeout, WAL and foreign keys."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    if parsed.get_backend_name() != "sqlite":
        raise StoreError(
            f"database '{parsed.get_backend_name()}' is not supported: use a "
            "sqlite:/// or postgresql:// URL in WATERFALL_DATABASE_URL"
        )

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}
    )
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    # WAL lets the searches read the rollout percentage while the recorder
    # thread writes; SQLite ignores foreign keys unless asked.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success and roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """Build an Alembic config pointing at the packaged migrations."""
    # Alembic is imported here, not at the top: commands that only read or
    # write a row (a rollback above all) should not pay for loading it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema at url to the newest revision; safe to run repeatedly."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, then drop it.

    Tests and benchmarks use it so that they never write to a shared database.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield normalise_url(server_url).rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
