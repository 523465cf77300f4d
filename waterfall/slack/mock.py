"""A local stand-in for Slack: the Web API methods we call, and signed requests.

Slack lives outside this machine, so tests and the demo point the real
slack_sdk WebClient at this server and read back what it received. It also
builds interaction and slash-command requests signed the way Slack signs them
(v0 HMAC-SHA256 of "v0:{timestamp}:{body}" with the signing secret).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from waterfall.background_server import BackgroundServer

MOCK_CHANNEL_ID = "C0ROLLOUT"


@dataclass(frozen=True)
class ApiCall:
    """One Web API request the mock received."""

    method: str
    arguments: dict[str, Any]
    answer: dict[str, Any]


@dataclass
class _MockState:
    token: str
    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MockSlackApi:
    """The Web API methods the project calls, served on 127.0.0.1."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.state = _MockState(token)
        app = Starlette(routes=[Route("/api/{method}", self._handle, methods=["POST"])])
        self._server = BackgroundServer(app, "slack-mock")

    @property
    def api_url(self) -> str:
        """The base URL to give the WebClient, ending in /api/."""
        return f"{self._server.base_url}/api/"

    def start(self) -> MockSlackApi:
        """Start serving on a free port."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> MockSlackApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Return every request received, optionally of one method, oldest first."""
        with self.state.lock:
            return [c for c in self.state.calls if method in (None, c.method)]

    def message(self, ts: str) -> dict[str, Any]:
        """Return a posted message as it is now, after every update."""
        with self.state.lock:
            return dict(self.state.messages[ts])

    def channel_messages(self) -> list[dict[str, Any]]:
        """Return every posted message as it is now, oldest first."""
        with self.state.lock:
            return [dict(message) for message in self.state.messages.values()]

    def fail(self, method: str, error: str | None) -> None:
        """Make a method return ok=false with this error; None removes the fault."""
        with self.state.lock:
            if error is None:
                self.state.failing.pop(method, None)
            else:
                self.state.failing[method] = error

    def reset(self) -> None:
        """Forget every call and message."""
        with self.state.lock:
            self.state.calls.clear()
            self.state.messages.clear()
            self.state.failing.clear()

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        arguments = await _arguments(request)
        if request.headers.get("authorization") != f"Bearer {self.state.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        with self.state.lock:
            error = self.state.failing.get(method)
            if error is None:
                answer = self._answer(method, arguments)
            else:
                answer = {"ok": False, "error": error}
            self.state.calls.append(ApiCall(method, arguments, answer))
            return JSONResponse(answer)

    def _answer(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        messages = self.state.messages
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self.state.ts):06d}"
            messages[ts] = {**arguments, "channel": MOCK_CHANNEL_ID, "ts": ts}
            return {"ok": True, "channel": MOCK_CHANNEL_ID, "ts": ts}
        if method == "chat.update":
            ts = str(arguments.get("ts"))
            if ts not in messages:
                return {"ok": False, "error": "message_not_found"}
            messages[ts] = {**messages[ts], **arguments}
            return {"ok": True, "channel": MOCK_CHANNEL_ID, "ts": ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000001.{next(self.state.ts):06d}"}
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "team_id": "TMOCK"}
        return {"ok": False, "error": "unknown_method"}


async def _arguments(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Headers Slack sends with a request body: its timestamp and v0 signature."""
    verifier = SignatureVerifier(secret)
    signature = verifier.generate_signature(timestamp=str(timestamp), body=body)
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": str(signature),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def button_click(
    action_id: str,
    value: str,
    user_id: str,
    message_ts: str,
    user_name: str = "",
    channel_id: str = MOCK_CHANNEL_ID,
) -> bytes:
    """Build the form body Slack posts when someone clicks a message button."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name or user_id, "name": user_name},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
        },
        "channel": {"id": channel_id},
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
        "response_url": "http://127.0.0.1:9/unused",
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command(
    command: str, text: str, user_id: str, channel_id: str = MOCK_CHANNEL_ID
) -> bytes:
    """Build the form body Slack posts when someone runs a slash command."""
    fields = {
        "command": command,
        "text": text,
        "user_id": user_id,
        "user_name": user_id,
        "channel_id": channel_id,
    }
    return urlencode(fields).encode()
