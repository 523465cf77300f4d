"""Send messages to Slack through the real slack_sdk WebClient.

A Slack outage must not stop a rollout. Every call here logs an API or
connection failure and returns, and the Prefect UI form keeps working beside
the buttons. Without a bot token the NullNotifier replaces this one, so the
embedded default needs no Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from waterfall.logging import get_logger
from waterfall.settings import Settings
from waterfall.slack.credentials import bot_token
from waterfall.slack.messages import plain_text

log = get_logger("slack")

# slack_sdk logs request headers, bearer token included, at DEBUG. Its own
# logger is held at WARNING so that no log level setting can reveal the token.
_SDK_LOGGER = logging.getLogger("waterfall.slack_sdk")
_SDK_LOGGER.setLevel(logging.WARNING)


@dataclass(frozen=True)
class MessageRef:
    """Location of a posted message: its channel id and timestamp."""

    channel: str
    ts: str


class Notifier(Protocol):
    """Interface the rollout needs from a chat tool."""

    channel: str

    def post(
        self, blocks: list[dict[str, Any]], channel: str | None = None
    ) -> MessageRef | None:
        """Post a message to a channel (default: the notifier's); None on failure."""

    def update(self, ref: MessageRef, blocks: list[dict[str, Any]]) -> bool:
        """Replace a posted message; False when it could not be changed."""

    def reply(self, ref: MessageRef, text: str) -> None:
        """Post a reply in the message's thread, also shown in the channel."""

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Show a message to one user only."""


class SlackNotifier:
    """Notifier backed by slack_sdk's WebClient."""

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    def post(
        self, blocks: list[dict[str, Any]], channel: str | None = None
    ) -> MessageRef | None:
        """Post a message to a channel (default: the notifier's); None on failure."""
        response = self._call(
            "chat.postMessage",
            channel=channel or self.channel,
            blocks=blocks,
            text=plain_text(blocks),
        )
        if response is None:
            return None
        return MessageRef(str(response["channel"]), str(response["ts"]))

    def update(self, ref: MessageRef, blocks: list[dict[str, Any]]) -> bool:
        """Replace a posted message; False when it could not be changed."""
        response = self._call(
            "chat.update",
            channel=ref.channel,
            ts=ref.ts,
            blocks=blocks,
            text=plain_text(blocks),
        )
        return response is not None

    def reply(self, ref: MessageRef, text: str) -> None:
        """Post a reply in the message's thread, also shown in the channel."""
        self._call(
            "chat.postMessage",
            channel=ref.channel,
            thread_ts=ref.ts,
            reply_broadcast=True,
            text=text,
        )

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Show a message to one user only."""
        self._call("chat.postEphemeral", channel=channel, user=user, text=text)

    def _call(self, method: str, **arguments: Any) -> Any:
        try:
            return self.client.api_call(method, json=arguments)
        except SlackApiError as exc:
            log.warning(
                "slack.call_failed", method=method, error=exc.response.get("error")
            )
        except (SlackClientError, OSError) as exc:
            log.warning("slack.call_failed", method=method, error=type(exc).__name__)
        return None


class NullNotifier:
    """Stands in when no bot token is set: sends nothing."""

    def __init__(self, channel: str = "") -> None:
        self.channel = channel

    def post(
        self, blocks: list[dict[str, Any]], channel: str | None = None
    ) -> MessageRef | None:
        """Send nothing."""
        return None

    def update(self, ref: MessageRef, blocks: list[dict[str, Any]]) -> bool:
        """Send nothing."""
        return False

    def reply(self, ref: MessageRef, text: str) -> None:
        """Send nothing."""

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Send nothing."""


def build_notifier(settings: Settings) -> Notifier:
    """Build a Slack notifier when a bot token is set, else one that sends nothing."""
    token = bot_token(settings)
    if token is None:
        log.info("slack.not_configured", channel=settings.slack_channel)
        return NullNotifier(settings.slack_channel)
    client = WebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        logger=_SDK_LOGGER,
    )
    return SlackNotifier(client, settings.slack_channel)
