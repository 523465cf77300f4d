"""The `waterfall maintenance` and `waterfall alerts` commands on a real store,
posting to the Slack mock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.alerts.conftest import posts, text_of
from tests.conftest import SLACK_TOKEN
from waterfall.alerts.maintenance import parse_moment
from waterfall.cli import main
from waterfall.errors import InvalidRequestError
from waterfall.slack.mock import MockSlackApi


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: MockSlackApi
) -> Iterator[CliRunner]:
    """A runner on a fresh store whose Slack is the mock."""
    monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("WATERFALL_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("WATERFALL_SLACK_API_URL", slack.api_url)
    runner = CliRunner()
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    yield runner


class TestMaintenanceCommands:
    def test_add_then_list(self, cli: CliRunner) -> None:
        added = cli.invoke(
            main,
            [
                "maintenance",
                "add",
                "2099-01-01T22:00",
                "2099-01-02T01:00+01:00",
                "--reason",
                "vendor upgrade",
                "--actor",
                "alice",
            ],
        )
        listed = cli.invoke(main, ["maintenance", "list"])

        assert added.exit_code == 0, added.output
        assert "2099-01-01 22:00 to 2099-01-02 00:00 UTC" in added.output
        assert "vendor upgrade" in listed.output
        assert "alice" in listed.output

    def test_end_before_start_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(
            main,
            ["maintenance", "add", "2099-01-02", "2099-01-01", "--reason", "x"],
        )

        assert result.exit_code != 0
        assert "is not after START" in str(result.exception)

    def test_missing_reason_is_rejected(self, cli: CliRunner) -> None:
        result = cli.invoke(main, ["maintenance", "add", "2099-01-01", "2099-01-02"])

        assert result.exit_code == 2
        assert "--reason" in result.output

    @pytest.mark.parametrize("text", ["tomorrow", "2099-13-01", ""])
    def test_unparsable_moment_names_format(self, text: str) -> None:
        with pytest.raises(InvalidRequestError, match="is not an ISO 8601"):
            parse_moment(text, "START")


class TestAlertsTestCommand:
    def test_posts_every_alert_marked_as_test(
        self, cli: CliRunner, slack: MockSlackApi
    ) -> None:
        result = cli.invoke(main, ["alerts", "test"])

        assert result.exit_code == 0, result.output
        messages = [text_of(call) for call in posts(slack)]
        assert len(messages) == 5
        assert all("[TEST]" in text and "TEST ALERT" in text for text in messages)
        for anchor in (
            "cost-alert",
            "vendor-error-alert",
            "latency-alert",
            "breaker-alert",
            "data-quality-alert",
        ):
            assert any(f"docs/runbook.md#{anchor}|" in text for text in messages)

    def test_critical_test_alerts_page_nobody(
        self, cli: CliRunner, slack: MockSlackApi
    ) -> None:
        cli.invoke(main, ["alerts", "test"])

        critical = [text_of(c) for c in posts(slack) if "[CRITICAL]" in text_of(c)]
        assert len(critical) == 2
        assert all("not paged in a test: `<!subteam^" in text for text in critical)
        assert not any("Paging on-call" in text for text in critical)

    def test_slack_failure_fails_the_command(
        self, cli: CliRunner, slack: MockSlackApi
    ) -> None:
        slack.fail("chat.postMessage", "channel_not_found")
        result = cli.invoke(main, ["alerts", "test"])

        assert result.exit_code == 1
        assert "NOT posted" in result.output
