"""Automatic approvers for the demo and tests: they decide every waiting step.

They exist so that `make demo` can run unattended. Their names are written
into every stage they decide, so their decisions are never mistaken for a
person's. DemoApprover answers the Prefect pause directly; SlackClickApprover
clicks the button in the (mock) Slack message instead.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import NotPausedError
from prefect.flow_runs import resume_flow_run

from waterfall.clock import Clock
from waterfall.logging import get_logger
from waterfall.slack.messages import APPROVE_ACTION
from waterfall.slack.mock import MockSlackApi, button_click, signed_headers

log = get_logger("demo_approver")
RECLICK_S = 5.0  # seconds before a message that still shows buttons is clicked again

_PAUSED = FlowRunFilter(
    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
)


class _PollingThread:
    """Base of the approvers: a daemon thread whose `_run` polls until stopped."""

    def __init__(self, name: str, poll_interval_s: float) -> None:
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        raise NotImplementedError


class DemoApprover(_PollingThread):
    """Background thread that resumes paused flow runs with an approval."""

    def __init__(
        self, name: str, decision: str = "approve", poll_interval_s: float = 0.3
    ) -> None:
        super().__init__("demo-approver", poll_interval_s)
        self.name = name
        self.decision = decision
        self.approvals: list[dict[str, Any]] = []

    def _run(self) -> None:
        with get_client(sync_client=True) as client:
            while not self._stop.wait(self._poll_interval_s):
                for flow_run in client.read_flow_runs(flow_run_filter=_PAUSED):
                    self._approve(flow_run.id, flow_run.name)

    def _approve(self, flow_run_id: Any, flow_run_name: str) -> None:
        answer = {
            "decision": self.decision,
            "approver": self.name,
            "comment": f"{self.decision}: answered automatically, not by a person",
        }
        try:
            resume_flow_run(flow_run_id, run_input=answer)
        except NotPausedError:
            return
        self.approvals.append(
            {"flow_run_id": str(flow_run_id), "flow_run": flow_run_name}
        )
        log.info(
            "approver.step_answered",
            flow_run_id=str(flow_run_id),
            approver=self.name,
            decision=self.decision,
        )


class SlackClickApprover(_PollingThread):
    """Background thread that clicks Approve on every approval message in Slack.

    It plays the product manager for the demo. It watches the mock Slack for
    messages with buttons and sends each click to the project's endpoint,
    signed as Slack signs it, so the demo's approvals take a person's path.
    """

    def __init__(
        self,
        api: MockSlackApi,
        endpoint_url: str,
        signing_secret: str,
        clock: Clock,
        user_id: str,
        user_name: str = "demo-approver",
        poll_interval_s: float = 0.3,
    ) -> None:
        super().__init__("slack-click-approver", poll_interval_s)
        self.api = api
        self.endpoint_url = endpoint_url
        self.approvals: list[dict[str, Any]] = []
        self._secret = signing_secret
        self._clock = clock
        self._user_id = user_id
        self._user_name = user_name
        self._clicked: dict[str, float] = {}  # message ts -> monotonic click time

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(self._poll_interval_s):
                for call in self.api.calls("chat.postMessage"):
                    if call.answer.get("ok"):
                        ts = str(call.answer["ts"])
                        self._click_while_open(client, self.api.message(ts), ts)

    def _click_while_open(
        self, client: httpx.Client, message: dict[str, Any], ts: str
    ) -> None:
        """Click a message's Approve button, again if it still shows later.

        A person clicks again when nothing happens; so does this approver, in
        case its click arrived before the step's run could take it.
        """
        stage_id = _approve_value(message)
        now = time.monotonic()
        if stage_id is None or now - self._clicked.get(ts, -RECLICK_S) < RECLICK_S:
            return
        self._clicked[ts] = now
        user, name = self._user_id, self._user_name
        body = button_click(APPROVE_ACTION, stage_id, user, ts, name)
        stamp = int(self._clock.now().timestamp())
        response = client.post(
            f"{self.endpoint_url}/slack/interactions",
            content=body,
            headers=signed_headers(self._secret, body, stamp),
        )
        self.approvals.append({"stage_id": stage_id, "status": response.status_code})
        log.info(
            "approver.button_clicked", stage_id=stage_id, status=response.status_code
        )


def _approve_value(message: dict[str, Any]) -> str | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == APPROVE_ACTION:
                return str(element["value"])
    return None
