"""Slack credentials can live in Prefect Secret blocks instead of the environment."""

from __future__ import annotations

import pytest
from prefect.blocks.system import Secret

from tests.conftest import SLACK_TOKEN
from waterfall.errors import ConfigError
from waterfall.settings import Settings
from waterfall.slack.credentials import signing_secret
from waterfall.slack.mock import MockSlackApi
from waterfall.slack.notifier import SlackNotifier, build_notifier

pytestmark = pytest.mark.prefect
BLOCKS = [{"type": "header", "text": {"type": "plain_text", "text": "from a block"}}]


def test_bot_token_from_a_block_authenticates(
    prefect_api: None, slack: MockSlackApi
) -> None:
    Secret(value=SLACK_TOKEN).save("waterfall-slack-bot-token", overwrite=True)
    settings = Settings(
        slack_bot_token=None,
        slack_bot_token_block="waterfall-slack-bot-token",
        slack_api_url=slack.api_url,
    )
    notifier = build_notifier(settings)
    assert isinstance(notifier, SlackNotifier)
    assert notifier.post(BLOCKS) is not None
    assert slack.calls("chat.postMessage")[0].answer["ok"] is True


def test_setting_wins_over_the_block(prefect_api: None) -> None:
    Secret(value="from-block").save("waterfall-signing", overwrite=True)
    settings = Settings(
        slack_signing_secret="from-env", slack_signing_secret_block="waterfall-signing"
    )
    secret = signing_secret(settings)
    assert secret is not None and secret.get_secret_value() == "from-env"


def test_missing_block_names_it_without_a_secret(prefect_api: None) -> None:
    settings = Settings(slack_bot_token=None, slack_bot_token_block="no-such-block")
    with pytest.raises(ConfigError, match="'no-such-block' was not found"):
        build_notifier(settings)
