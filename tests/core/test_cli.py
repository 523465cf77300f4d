"""The command line against a real store and the simulator."""

from __future__ import annotations

import json
import socket
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
        assert "25% of subjects on 'optimized'" in status
        assert "by alice: first look" in status

    def test_rollback_returns_to_zero(self, cli: CliRunner) -> None:
        run(cli, "rollout", "set", "50", "--reason", "half")
        output = run(cli, "rollout", "rollback", "--reason", "bounces up")
        assert "at 0%" in output
        assert "0% of subjects on 'optimized'" in run(cli, "rollout", "status")

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


def run_entry_point(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the installed entry point in-process and return its exit code."""
    from waterfall.cli import run as entry_point

    monkeypatch.setattr("sys.argv", ["waterfall", *args])
    with pytest.raises(SystemExit) as exit_info:
        entry_point()
    return int(exit_info.value.code or 0)


class TestErrorsWithoutTraceback:
    def test_uninitialised_store_says_to_run_init(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv(
            "WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}"
        )
        code = run_entry_point(["rollout", "status"], monkeypatch)
        error = capsys.readouterr().err
        assert code == 2
        assert "no store at" in error
        assert "run `waterfall init`" in error
        assert "Traceback" not in error

    def test_unreachable_postgres_is_reported(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = "postgresql://postgres:secret@127.0.0.1:1/none"
        monkeypatch.setenv("WATERFALL_DATABASE_URL", url)
        code = run_entry_point(["route", "user-1"], monkeypatch)
        error = capsys.readouterr().err
        assert code == 2
        assert "secret" not in error
        assert "127.0.0.1:1" in error

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("WATERFALL_LOG_LEVEL", "trace"),
            ("WATERFALL_SHADOW_SHARE", "2"),
            ("WATERFALL_BREAKER_ENABLED", "maybe"),
        ],
    )
    def test_invalid_setting_is_named(
        self,
        variable: str,
        value: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv(variable, value)
        code = run_entry_point(["rollout", "rollback", "--reason", "x"], monkeypatch)
        error = capsys.readouterr().err
        assert code == 2
        assert f"{variable}='{value}'" in error
        assert "Traceback" not in error

    def test_unsupported_database_is_named(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("WATERFALL_DATABASE_URL", "mysql://u@127.0.0.1/db")
        code = run_entry_point(["route", "user-1"], monkeypatch)
        assert code == 2
        assert "'mysql' is not supported" in capsys.readouterr().err

    def test_mistyped_sqlite_path_creates_nothing(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        missing = tmp_path / "typo" / "waterfall.db"
        monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{missing}")
        code = run_entry_point(["rollout", "rollback", "--reason", "x"], monkeypatch)
        assert code == 2
        assert "no store at" in capsys.readouterr().err
        assert not missing.parent.exists()

    def test_silent_postgres_times_out(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # A server that accepts the connection and never replies.
        with socket.create_server(("127.0.0.1", 0)) as silent:
            port = silent.getsockname()[1]
            url = f"postgresql://postgres@127.0.0.1:{port}/none"
            monkeypatch.setenv("WATERFALL_DATABASE_URL", url)
            monkeypatch.setattr("waterfall.store.db.CONNECT_TIMEOUT_S", 1)
            code = run_entry_point(
                ["rollout", "rollback", "--reason", "x"], monkeypatch
            )
        error = capsys.readouterr().err
        assert code == 2
        assert "timeout" in error
        assert f"127.0.0.1:{port}" in error

    def test_empty_subject_is_rejected(
        self,
        cli: CliRunner,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        code = run_entry_point(["route", " "], monkeypatch)
        assert code == 2
        assert "subject id is empty" in capsys.readouterr().err

    def test_negative_metrics_window_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["metrics", "--days", "-5"])
        assert result.exit_code == 2
        assert "--days" in result.output


class TestSubjectNormalisation:
    def test_composed_and_decomposed_ids_route_alike(self, cli: CliRunner) -> None:
        composed = json.loads(run(cli, "route", "Jos\u00e9"))
        decomposed = json.loads(run(cli, "route", "Jose\u0301"))
        assert composed["bucket"] == decomposed["bucket"]

    def test_overlong_subject_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["route", "u" * 129])
        assert result.exit_code != 0
        assert "maximum is 128" in str(result.exception)


class TestShadowCommands:
    def test_on_then_status_shows_share_and_reason(self, cli: CliRunner) -> None:
        output = run(
            cli, "shadow", "on", "--share", "0.25", "--reason", "week", "--actor", "bo"
        )
        status = run(cli, "shadow", "status")
        assert "25% of searches" in output
        assert "shadow traffic on" in status
        assert "by bo: week" in status
        assert "shadow 0.00 USD over 0 runs" in status

    def test_off_keeps_share_and_stops(self, cli: CliRunner) -> None:
        run(cli, "shadow", "on", "--share", "0.5", "--reason", "start")
        run(cli, "shadow", "off", "--reason", "done")
        status = run(cli, "shadow", "status")
        assert "shadow traffic off" in status
        assert "share 50%" in status

    def test_share_above_one_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["shadow", "on", "--share", "2", "--reason", "x"])
        assert result.exit_code == 2
        assert "--share" in result.output

    def test_search_with_shadow_on_records_spend_apart(
        self, cli: CliRunner, simulator: SimulatorServer
    ) -> None:
        run(cli, "shadow", "on", "--reason", "measure")
        run(
            cli,
            "search",
            "--subject",
            "user-9",
            "--first-name",
            "Ana",
            "--last-name",
            "Chen",
            "--company",
            "acme.io",
        )
        data = json.loads(run(cli, "metrics", "--json"))
        assert data["spend"]["primary_executions"] == 1
        assert data["spend"]["shadow_executions"] == 1
