"""Shared fixtures: a fresh store per test on SQLite and, when set, PostgreSQL;
a mock of the Slack Web API."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from waterfall.clock import SimulatedClock
from waterfall.slack.mock import MockSlackApi
from waterfall.store import Store
from waterfall.store.db import scratch_postgres_database

POSTGRES_URL = os.environ.get("WATERFALL_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("WATERFALL_TEST_REDIS_URL")
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    # Tests may talk to servers they start on this machine and nothing else.
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise OSError(f"test tried to reach {host}: only loopback is allowed")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


def _store_params() -> list[object]:
    params: list[object] = ["sqlite"]
    skip = pytest.mark.skip(reason="WATERFALL_TEST_POSTGRES_URL is not set")
    params.append(pytest.param("postgres", marks=[] if POSTGRES_URL else [skip]))
    return params


@pytest.fixture(params=_store_params())
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'waterfall.db'}"
    else:
        assert POSTGRES_URL is not None
        with scratch_postgres_database(POSTGRES_URL, "waterfall_test") as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    created = Store(store_url)
    created.migrate()
    yield created
    created.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store, for tests that need no second backend."""
    created = Store(f"sqlite:///{tmp_path / 'waterfall.db'}")
    created.migrate()
    yield created
    created.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    """A simulated clock at a fixed start."""
    return SimulatedClock(START)


SLACK_TOKEN = "xoxb-test-token-not-real"


@pytest.fixture(scope="session")
def slack_api() -> Iterator[MockSlackApi]:
    """One mock of the Slack Web API for the session."""
    with MockSlackApi(SLACK_TOKEN) as api:
        yield api


@pytest.fixture
def slack(slack_api: MockSlackApi) -> MockSlackApi:
    """The Slack mock, with no calls recorded yet."""
    slack_api.reset()
    return slack_api
