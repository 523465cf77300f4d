"""`waterfall breaker status` and `waterfall breaker reset` against a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.breaker.conftest import NEEDS_REDIS, RULE
from tests.breaker.helpers import open_breaker, response
from tests.conftest import REDIS_URL
from vendors.protocol import Outcome
from waterfall.breaker.breaker import CircuitBreaker
from waterfall.breaker.redis_store import RedisBreakerStore
from waterfall.cli import main
from waterfall.errors import BreakerStoreError, InvalidRequestError, NotFoundError
from waterfall.store import Store
from waterfall.store import repository as repo

VENDOR = "Vendor_A"  # the helpers' vendor, one of the catalog's six


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("WATERFALL_DATABASE_URL", url)
    monkeypatch.delenv("WATERFALL_REDIS_URL", raising=False)
    return url


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    runner = CliRunner()
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    return runner


@pytest.fixture
def shared(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, redis_client, redis_prefix
) -> Iterator[CircuitBreaker]:
    """A breaker on the test Redis, with the commands pointed at the same keys."""
    assert REDIS_URL is not None
    monkeypatch.setenv("WATERFALL_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("WATERFALL_BREAKER_REDIS_PREFIX", redis_prefix)
    yield CircuitBreaker(RedisBreakerStore(redis_client, redis_prefix), RULE)


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


class TestWithoutRedis:
    def test_status_lists_every_vendor(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["breaker", "status"])
        assert result.exit_code == 0
        assert "WATERFALL_REDIS_URL is unset" in result.stderr
        for vendor in ("Cognism", "Vendor_A", "Vendor_D"):
            assert vendor in result.stdout

    def test_status_json_marks_local_state(self, cli: CliRunner) -> None:
        data = json.loads(run(cli, "breaker", "status", "--json"))
        assert data["shared_state"] is False
        assert len(data["vendors"]) == 6
        assert data["vendors"][0]["state"] is None

    def test_reset_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["breaker", "reset", VENDOR, "--reason", "x"])
        assert isinstance(result.exception, InvalidRequestError)
        assert "restart the search process" in str(result.exception)

    def test_reset_of_unknown_vendor_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["breaker", "reset", "Nobody", "--reason", "x"])
        assert isinstance(result.exception, NotFoundError)
        assert "known vendors: Cognism" in str(result.exception)

    def test_reset_needs_a_reason(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["breaker", "reset", VENDOR])
        assert result.exit_code == 2
        assert "--reason" in result.output


@pytest.mark.redis
@NEEDS_REDIS
class TestWithRedis:
    def test_status_shows_open_vendor(self, cli, shared) -> None:
        open_breaker(shared, RULE)
        data = json.loads(run(cli, "breaker", "status", "--json"))
        row = next(v for v in data["vendors"] if v["vendor"] == VENDOR)
        assert data["shared_state"] is True
        assert row["state"] == "OPEN"
        assert row["calls_in_window"] == RULE.min_calls
        assert row["error_rate"] == pytest.approx(0.05)
        assert 0 < row["next_probe_in_s"] <= RULE.cooldown_s
        others = [v["state"] for v in data["vendors"] if v["vendor"] != VENDOR]
        assert set(others) == {"CLOSED"}

    def test_status_table(self, cli, shared) -> None:
        open_breaker(shared, RULE)
        table = run(cli, "breaker", "status")
        line = next(row for row in table.splitlines() if row.startswith(VENDOR))
        assert "OPEN" in line
        assert "5.0%" in line
        assert "in 9" in line  # next probe in about 900 s

    def test_reset_closes_and_is_recorded(self, cli, shared, database_url) -> None:
        open_breaker(shared, RULE)
        output = run(
            cli, "breaker", "reset", VENDOR, "--reason", "fixed", "--actor", "alice"
        )
        assert "OPEN -> CLOSED, reset by alice" in output
        assert shared.status([VENDOR])[0].state.value == "CLOSED"
        store = Store(database_url)
        with store.session() as session:
            newest = repo.breaker_transitions(session, VENDOR)[0]
        store.dispose()
        assert newest.reason == "reset by alice: fixed"
        assert newest.to_state == "CLOSED"

    def test_reset_clears_out_of_credit(self, cli, shared) -> None:
        admission = shared.admit(VENDOR)
        shared.record(VENDOR, admission, response(Outcome.OUT_OF_CREDIT))
        run(cli, "breaker", "reset", VENDOR, "--reason", "credit bought")
        assert shared.admit(VENDOR).allowed is True


class TestRedisUnreachable:
    def test_status_fails_with_the_url(self, cli, monkeypatch) -> None:
        monkeypatch.setenv("WATERFALL_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
        result = cli.invoke(main, ["breaker", "status"])
        assert isinstance(result.exception, BreakerStoreError)
        assert "127.0.0.1:1" in str(result.exception)
        assert "hunter2" not in str(result.exception)

    def test_command_line_exit_code(self, cli, database_url) -> None:
        env = {
            **os.environ,
            "WATERFALL_DATABASE_URL": database_url,
            "WATERFALL_REDIS_URL": "redis://127.0.0.1:1/0",
        }
        done = subprocess.run(
            [sys.executable, "-c", "from waterfall.cli import run; run()"]
            + ["breaker", "reset", VENDOR, "--reason", "fixed"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert "the breaker store at WATERFALL_REDIS_URL=" in done.stderr
