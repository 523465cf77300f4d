"""The HTTP endpoint Slack calls: button clicks and the rollback slash command.

Every request is authenticated before its body is parsed: the v0 signature
over the raw bytes must match the signing secret, and a timestamp older than
the allowed age is a replay. Slack expects a response within 3 s, so a click is
acknowledged at once and acted on in a background task after the response.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import Clock as SlackSdkClock
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from waterfall.clock import Clock
from waterfall.errors import ConfigError, WaterfallError
from waterfall.logging import get_logger
from waterfall.rollback import Release, finish_rollback, roll_back_everything
from waterfall.runtime import Runtime
from waterfall.slack.approvals import ApprovalDesk, Click, Resume
from waterfall.slack.credentials import signing_secret

log = get_logger("slack.endpoint")

ROLLBACK_COMMAND = "/rollout-rollback"
# Slack's interaction payloads carry the message's blocks: tens of KB at most.
# Reading stops past this, before the signature is checked.
MAX_BODY_BYTES = 1_000_000
MAX_REASON_CHARS = 1000


class _SlackClock(SlackSdkClock):
    """slack_sdk's clock interface (epoch seconds) over the project's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


class SlackEndpoint:
    """Verifies Slack's requests and routes them to the approval desk."""

    def __init__(
        self,
        signing_secret: str,
        desk: ApprovalDesk,
        release: Release | None = None,
    ) -> None:
        self.runtime = desk.runtime
        clock = _SlackClock(self.runtime.clock)
        self.verifier = SignatureVerifier(signing_secret, clock=clock)
        self.desk = desk
        self.release = release

    def app(self) -> Starlette:
        """Build the ASGI application."""
        return Starlette(
            routes=[
                Route("/slack/interactions", self.interactions, methods=["POST"]),
                Route("/slack/commands", self.commands, methods=["POST"]),
                Route("/healthz", _health, methods=["GET"]),
            ]
        )

    async def interactions(self, request: Request) -> Response:
        """Handle a click on a message button."""
        body = await _bounded_body(request)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        if not self._verified(body, request):
            return PlainTextResponse("invalid request signature", status_code=401)
        click = _click(_form(body))
        if click is None:
            return PlainTextResponse("unsupported interaction", status_code=400)
        return Response(
            status_code=200, background=BackgroundTask(self.desk.handle, click)
        )

    async def commands(self, request: Request) -> Response:
        """Handle the rollback slash command: `/rollout-rollback REASON`."""
        body = await _bounded_body(request)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        if not self._verified(body, request):
            return PlainTextResponse("invalid request signature", status_code=401)

        form = _form(body)
        user = form.get("user_id", "")
        # NUL cannot be stored in PostgreSQL text, and the history needs no essay.
        reason = form.get("text", "").replace("\x00", "").strip()[:MAX_REASON_CHARS]
        if form.get("command") != ROLLBACK_COMMAND:
            return _ephemeral(f"Unknown command: use {ROLLBACK_COMMAND} REASON.")
        if user not in self.desk.approvers:
            log.warning("slack.rollback_rejected", user_id=user)
            return _ephemeral(
                "You are not on the approver list, so nothing was rolled back. "
                "Ask the rollout owner, or use `waterfall rollout rollback`."
            )
        if not reason:
            return _ephemeral(f"The reason is missing: use {ROLLBACK_COMMAND} REASON.")

        actor = f"{form.get('user_name') or user} (Slack {user})"[:128]
        return self._roll_back(user, actor, reason)

    def _roll_back(self, user: str, actor: str, reason: str) -> Response:
        """Write 0 % before responding, then end waiting runs and post after it."""
        try:
            result = roll_back_everything(self.runtime, actor, reason, announce=False)
        except (WaterfallError, SQLAlchemyError) as exc:
            log.error("slack.rollback_failed", user_id=user, error=type(exc).__name__)
            return _ephemeral(
                "The rollback failed: the store did not accept the change, so "
                "nothing was rolled back. Run `waterfall rollout rollback "
                "--reason ...` from a machine that reaches the store."
            )

        follow_up = BackgroundTask(
            finish_rollback, self.runtime, result.closed, actor, reason, self.release
        )
        message = {
            "response_type": "in_channel",
            "text": f"Rolled back to 0% by {actor}: {reason}. "
            f"{len(result.closed)} waiting step(s) cancelled.",
        }
        return JSONResponse(message, background=follow_up)

    def _verified(self, body: bytes, request: Request) -> bool:
        try:
            valid = self.verifier.is_valid_request(body, dict(request.headers))
        except ValueError:  # a timestamp header that is not a number
            valid = False
        if not valid:
            log.warning("slack.request_rejected", path=request.url.path)
        return bool(valid)


async def _bounded_body(request: Request) -> bytes | None:
    """Read the raw body, or return None once it passes MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _form(body: bytes) -> dict[str, str]:
    """Parse the form body Slack sends (application/x-www-form-urlencoded)."""
    text = body.decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def _click(form: dict[str, str]) -> Click | None:
    try:
        payload: Any = json.loads(form.get("payload", ""))
        action = payload["actions"][0]
        return Click(
            user_id=str(payload["user"]["id"]),
            user_name=str(payload["user"].get("username") or ""),
            action_id=str(action["action_id"]),
            value=str(action.get("value", "")),
            channel=str(payload["container"]["channel_id"]),
            message_ts=str(payload["container"]["message_ts"]),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _ephemeral(text: str) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "text": text})


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def build_endpoint(
    runtime: Runtime, resume: Resume, release: Release | None = None
) -> SlackEndpoint:
    """Build the endpoint from the runtime's secret, approvers and store."""
    secret = signing_secret(runtime.settings)
    if secret is None:
        raise ConfigError(
            "the Slack endpoint needs the signing secret: set "
            "WATERFALL_SLACK_SIGNING_SECRET or WATERFALL_SLACK_SIGNING_SECRET_BLOCK"
        )
    if not runtime.settings.slack_approvers:
        log.warning("slack.no_approvers", hint="set WATERFALL_SLACK_APPROVERS")
    desk = ApprovalDesk(runtime, runtime.settings.slack_approvers, resume)
    return SlackEndpoint(secret.get_secret_value(), desk, release)
