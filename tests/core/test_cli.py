"""The command line against a real store and the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.cli import main
from waterfall.clock import SystemClock
from waterfall.settings import Settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose store is a fresh, initialised SQLite file."""
    monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    runner = CliRunner()
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    yield runner


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
    """The simulator on a free port, with every adapter pointed at it."""
    profiles = load_profiles(Settings().config_dir / "simulator_profiles.yaml")
    with SimulatorServer(profiles, 7, SystemClock(), latency_scale=0) as server:
        monkeypatch.setenv("WATERFALL_VENDOR_BASE_URL", server.base_url)
        yield server


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


class TestRolloutCommands:
    def test_set_then_status_shows_percentage_and_reason(self, cli: CliRunner) -> None:
        run(cli, "rollout", "set", "25", "--reason", "first look", "--actor", "alice")
        status = run(cli, "rollout", "status")
        assert "25% on 'optimized'" in status
        assert "by alice: first look" in status

    def test_rollback_returns_to_zero(self, cli: CliRunner) -> None:
        run(cli, "rollout", "set", "50", "--reason", "half")
        output = run(cli, "rollout", "rollback", "--reason", "bounces up")
        assert "at 0%" in output
        assert "0% on 'optimized'" in run(cli, "rollout", "status")

    def test_set_without_reason_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["rollout", "set", "25"])
        assert result.exit_code == 2
        assert "--reason" in result.output

    def test_set_out_of_range_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["rollout", "set", "101", "--reason", "typo"])
        assert result.exit_code == 2
        assert "0<=x<=100" in result.output

    def test_route_follows_the_stored_percentage(self, cli: CliRunner) -> None:
        before = json.loads(run(cli, "route", "user-1"))
        run(cli, "rollout", "set", "100", "--reason", "all in")
        after = json.loads(run(cli, "route", "user-1"))
        assert before["config_name"] == "standard"
        assert after["config_name"] == "optimized"
        assert before["bucket"] == after["bucket"]


class TestSearchCommand:
    def test_search_prints_the_execution(self, cli: CliRunner, simulator) -> None:
        output = json.loads(
            run(
                cli,
                "search",
                "--subject",
                "user-1",
                "--first-name",
                "Ana",
                "--last-name",
                "Chen",
                "--company",
                "acme.io",
            )
        )
        assert output["route"]["config_name"] == "standard"
        assert output["positions_tried"][0] == 1

    def test_next_search_after_rollback_uses_standard(
        self, cli: CliRunner, simulator
    ) -> None:
        args = [
            "search",
            "--subject",
            "user-9",
            "--first-name",
            "Ana",
            "--last-name",
            "Chen",
            "--company",
            "acme.io",
        ]
        run(cli, "rollout", "set", "100", "--reason", "all in")
        during = json.loads(run(cli, *args))
        run(cli, "rollout", "rollback", "--reason", "test")
        after = json.loads(run(cli, *args))
        assert during["config_name"] == "optimized"
        assert after["config_name"] == "standard"

    def test_search_survives_every_vendor_failing(
        self, cli: CliRunner, simulator
    ) -> None:
        for vendor in simulator.profiles:
            simulator.set_fault(vendor, "server_error")
        output = json.loads(
            run(
                cli,
                "search",
                "--subject",
                "user-2",
                "--first-name",
                "Ben",
                "--last-name",
                "Eze",
                "--company",
                "hooli.com",
            )
        )
        assert output["vendor_hit"] is None
        assert output["error_occurred"] is True
        assert "contact" not in output


class TestMetricsCommand:
    def test_metrics_json_has_both_configs(self, cli: CliRunner) -> None:
        data = json.loads(run(cli, "metrics", "--json"))
        configs = {row["config_name"] for row in data["configs"]}
        assert configs == {"standard", "optimized"}
