"""The alert state machine on findings made by hand, read back from the store
and the Slack mock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from tests.alerts.conftest import posts, replies, text_of
from waterfall.alerts.checks import Finding
from waterfall.alerts.engine import AlertBook
from waterfall.alerts.maintenance import add_window
from waterfall.alerts.runner import alert_book, alert_config
from waterfall.cli import main
from waterfall.runtime import Runtime
from waterfall.slack.mock import MockSlackApi
from waterfall.store import alert_repository as alert_repo


def finding(firing: bool, value: float = 0.3) -> Finding:
    return Finding(
        rule="vendor_errors",
        subject="Vendor_A",
        firing=firing,
        value=value,
        threshold=0.1,
        measured=f"{value:.0%}",
        limit="10%",
        window="test window",
        configs=("standard",),
        vendors=("Vendor_A",),
    )


def book(runtime: Runtime) -> AlertBook:
    return alert_book(runtime, alert_config(runtime))


class TestAlertBook:
    def test_failed_post_is_sent_again(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        alerts = book(runtime)
        slack.fail("chat.postMessage", "ratelimited")
        alerts.apply(finding(True), runtime.clock.now())
        slack.fail("chat.postMessage", None)
        runtime.clock.advance(timedelta(minutes=5))

        assert alerts.apply(finding(True), runtime.clock.now()).action == "sent"
        assert len(slack.calls("chat.postMessage")) == 2
        with runtime.store.session() as session:
            row = alert_repo.latest_alert(session, "vendor_errors:Vendor_A", "firing")
        assert row is not None
        assert row.slack_ts is not None

    def test_failed_post_waits_for_window_end(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        alerts = book(runtime)
        slack.fail("chat.postMessage", "ratelimited")
        alerts.apply(finding(True), runtime.clock.now())
        slack.fail("chat.postMessage", None)
        now = runtime.clock.advance(timedelta(minutes=5))
        add_window(runtime.store, now, now + timedelta(hours=1), "upgrade", "a", now)

        assert alerts.apply(finding(True), now).action == "repeated"
        assert len(slack.calls("chat.postMessage")) == 1

    def test_summary_held_back_in_window(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        alerts = book(runtime)
        alerts.apply(finding(True), runtime.clock.now())
        now = runtime.clock.advance(timedelta(hours=2))
        add_window(runtime.store, now, now + timedelta(hours=1), "upgrade", "a", now)

        assert alerts.apply(finding(True), now).action == "repeated"
        assert replies(slack) == []

    def test_recovery_posted_in_window(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        alerts = book(runtime)
        alerts.apply(finding(True), runtime.clock.now())
        now = runtime.clock.advance(timedelta(minutes=10))
        add_window(runtime.store, now, now + timedelta(hours=1), "upgrade", "a", now)

        assert alerts.apply(finding(False, 0.01), now).action == "recovered"
        assert "Resolved:" in text_of(posts(slack)[-1])

    def test_clear_without_alert_posts_nothing(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        outcome = book(runtime).apply(finding(False, 0.01), runtime.clock.now())

        assert outcome.action == "clear"
        assert slack.calls() == []

    def test_new_episode_after_recovery(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        alerts = book(runtime)
        alerts.apply(finding(True), runtime.clock.now())
        alerts.apply(finding(False, 0.01), runtime.clock.advance(timedelta(minutes=5)))

        again = alerts.apply(finding(True), runtime.clock.advance(timedelta(minutes=5)))

        assert again.action == "sent"
        with runtime.store.session() as session:
            statuses = [row.status for row in alert_repo.alert_events(session)]
        assert statuses == ["firing", "resolved"]


class TestAlertsListCommand:
    def test_lists_suppressed_alert(
        self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = runtime.clock.now()
        add_window(runtime.store, now, now + timedelta(hours=1), "upgrade", "a", now)
        book(runtime).apply(finding(True), now)
        monkeypatch.setenv("WATERFALL_DATABASE_URL", runtime.store.url)

        result = CliRunner().invoke(main, ["alerts", "list"])

        assert result.exit_code == 0, result.output
        assert "vendor_errors:Vendor_A" in result.output
        assert "suppressed" in result.output
