"""The real slack_sdk client against the local mock of the Web API."""

from __future__ import annotations

import logging

import pytest

from tests.slack.conftest import TOKEN, notifier_for
from waterfall.logging import configure_logging
from waterfall.settings import Settings
from waterfall.slack.mock import MOCK_CHANNEL_ID, MockSlackApi
from waterfall.slack.notifier import MessageRef, NullNotifier, build_notifier

BLOCKS = [{"type": "header", "text": {"type": "plain_text", "text": "hello"}}]


class TestSlackNotifier:
    def test_post_returns_where_the_message_lives(self, slack: MockSlackApi) -> None:
        ref = notifier_for(slack, "#rollout").post(BLOCKS)
        assert ref is not None and ref.channel == MOCK_CHANNEL_ID
        call = slack.calls("chat.postMessage")[0]
        assert call.arguments["channel"] == "#rollout"
        assert call.arguments["blocks"] == BLOCKS
        assert call.arguments["text"] == "hello"

    def test_update_replaces_the_message(self, slack: MockSlackApi) -> None:
        notifier = notifier_for(slack)
        ref = notifier.post(BLOCKS)
        assert ref is not None
        new = [{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}]
        assert notifier.update(ref, new)
        assert slack.message(ref.ts)["blocks"] == new

    def test_slack_error_is_logged_not_raised(
        self, slack: MockSlackApi, capsys: pytest.CaptureFixture[str]
    ) -> None:
        slack.fail("chat.postMessage", "channel_not_found")
        assert notifier_for(slack).post(BLOCKS) is None
        captured = capsys.readouterr()
        assert "channel_not_found" in captured.out + captured.err

    def test_unreachable_slack_is_logged_not_raised(self) -> None:
        notifier = build_notifier(
            Settings(slack_bot_token=TOKEN, slack_api_url="http://127.0.0.1:9/api/")
        )
        assert notifier.post(BLOCKS) is None
        assert not notifier.update(MessageRef("C1", "1.0"), BLOCKS)

    def test_token_never_reaches_a_log_even_at_debug(
        self, slack: MockSlackApi, capsys: pytest.CaptureFixture[str], caplog
    ) -> None:
        configure_logging("DEBUG", True)
        logging.getLogger().setLevel(logging.DEBUG)
        try:
            settings = Settings(slack_bot_token=TOKEN, slack_api_url=slack.api_url)
            notifier = build_notifier(settings)
            notifier.post(BLOCKS)
            slack.fail("chat.update", "message_not_found")
            notifier.update(MessageRef("C1", "1.0"), BLOCKS)
        finally:
            configure_logging("INFO", True)
        captured = capsys.readouterr()
        assert TOKEN not in captured.err + captured.out + caplog.text
        assert len(slack.calls()) == 2


def test_without_a_token_nothing_is_sent() -> None:
    assert isinstance(build_notifier(Settings(slack_bot_token=None)), NullNotifier)
