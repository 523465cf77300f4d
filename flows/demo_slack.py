"""Slack for the demo: a local mock of the Web API, our endpoint, and a clicker.

The demo's approvals take the production path. Each step posts its approval
message through the real slack_sdk client (to the mock), and an automatic
approver clicks Approve through the signed endpoint, which resumes the paused
flow run. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from slack_sdk import WebClient

from flows.approver import SlackClickApprover
from tasks.control import release_waiting_runs, resume_step
from waterfall.background_server import BackgroundServer
from waterfall.runtime import Runtime
from waterfall.slack.approvals import ApprovalDesk
from waterfall.slack.endpoint import SlackEndpoint
from waterfall.slack.mock import MockSlackApi
from waterfall.slack.notifier import SlackNotifier

# Made-up credentials, valid only against the local mock.
DEMO_TOKEN = "xoxb-demo-only"
DEMO_SIGNING_SECRET = "demo-signing-secret"
DEMO_USER_ID = "UDEMOAPPROVER"
DEMO_USER_NAME = "demo-approver (automatic, demo only)"
DEMO_CHANNEL = "#waterfall-rollout"


@dataclass
class DemoSlack:
    """The running mock, and the approver that clicks in it."""

    api: MockSlackApi
    approver: SlackClickApprover

    def summary(self) -> str:
        """Describe what reached the mock channel, for the demo's output."""
        posted = self.api.calls("chat.postMessage")
        updates = self.api.calls("chat.update")
        decided = sum(
            "by demo-approver" in json.dumps(message.get("blocks"))
            for message in self.api.channel_messages()
        )
        return (
            f"slack (local mock of the Web API): {len(posted)} messages posted, "
            f"{len(self.approver.approvals)} Approve clicks sent to the endpoint, "
            f"{len(updates)} message updates, {decided} messages show the decision"
        )


@contextmanager
def demo_slack(runtime: Runtime) -> Iterator[DemoSlack]:
    """Start the mock and the endpoint, wire the runtime to them, and click."""
    with MockSlackApi(DEMO_TOKEN) as api:
        client = WebClient(token=DEMO_TOKEN, base_url=api.api_url)
        runtime.notifier = SlackNotifier(client, DEMO_CHANNEL)
        desk = ApprovalDesk(runtime, [DEMO_USER_ID], resume_step)
        endpoint = SlackEndpoint(DEMO_SIGNING_SECRET, desk, release_waiting_runs)
        server = BackgroundServer(endpoint.app(), "slack-endpoint")
        server.start()
        approver = SlackClickApprover(
            api,
            server.base_url,
            DEMO_SIGNING_SECRET,
            runtime.clock,
            DEMO_USER_ID,
            user_name=DEMO_USER_NAME,
        )
        approver.start()
        try:
            yield DemoSlack(api, approver)
        finally:
            approver.stop()
            server.stop()
