"""The bot token and signing secret, from settings or a Prefect Secret block.

This is the one place the core touches Prefect, and only when a block name
is configured: the import is deferred so that the core stays importable and
usable without Prefect's server.
"""

from __future__ import annotations

from pydantic import SecretStr

from waterfall.errors import ConfigError
from waterfall.settings import Settings


def bot_token(settings: Settings) -> SecretStr | None:
    """Return the bot token, or None when Slack is not configured."""
    return _resolve(
        settings.slack_bot_token, settings.slack_bot_token_block, "bot token"
    )


def signing_secret(settings: Settings) -> SecretStr | None:
    """Return the signing secret, or None when Slack is not configured."""
    return _resolve(
        settings.slack_signing_secret,
        settings.slack_signing_secret_block,
        "signing secret",
    )


def _resolve(value: SecretStr | None, block: str | None, what: str) -> SecretStr | None:
    if value is not None and value.get_secret_value():
        return value
    if not block:
        return None
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(block)
    except ValueError as exc:
        raise ConfigError(
            f"Slack {what}: Prefect Secret block {block!r} was not found; create "
            "it in the Prefect UI (Blocks > Secret) or unset the block setting"
        ) from exc
    value = secret.get()  # type: ignore[union-attr]  # sync call: a value, not a coroutine
    return SecretStr(str(value))
