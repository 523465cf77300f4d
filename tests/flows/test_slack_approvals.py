"""A step flow waits in Prefect while a person decides in Slack, for real.

The flow runs on Prefect's test harness and posts through the real slack_sdk
client to the local mock. Clicks travel as signed HTTP requests to the
endpoint served on 127.0.0.1, which resumes the paused run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.states import Failed

from flows.approver import DemoApprover
from flows.rollout import rollback, rollout_step
from tasks.control import release_waiting_runs, resume_step, run_state
from tests.flows.conftest import RolloutEnv
from tests.flows.test_rollout_flows import percentage, read_run, stage_status
from tests.slack.conftest import APPROVER, SECRET, notifier_for
from waterfall.background_server import BackgroundServer
from waterfall.rollback import roll_back_everything
from waterfall.slack.approvals import ApprovalDesk
from waterfall.slack.endpoint import SlackEndpoint
from waterfall.slack.messages import APPROVE_ACTION, REJECT_ACTION
from waterfall.slack.mock import ApiCall, MockSlackApi, button_click, signed_headers
from waterfall.store import repository as repo

pytestmark = pytest.mark.prefect
WAIT_S = 60.0


@dataclass
class SlackSide:
    """The mock Slack, our endpoint, and a way to click like a person."""

    env: RolloutEnv
    api: MockSlackApi
    endpoint_url: str

    def approval_call(self) -> ApiCall | None:
        """The first posted message that carries buttons, or None yet."""
        for call in self.api.calls("chat.postMessage"):
            if _buttons(call.arguments):
                return call
        return None

    def approval_message(self) -> dict[str, Any] | None:
        """The approval message as it was posted, or None yet."""
        call = self.approval_call()
        return None if call is None else call.arguments

    def click(self, action: str, user: str = APPROVER) -> httpx.Response:
        """Click a button on the approval message, signed as Slack signs it."""
        call = self.approval_call()
        assert call is not None, "no approval message was posted"
        stage_id = _buttons(call.arguments)[0]["value"]
        body = button_click(action, stage_id, user, call.answer["ts"], "alice")
        stamp = int(self.env.clock.now().timestamp())
        return httpx.post(
            f"{self.endpoint_url}/slack/interactions",
            content=body,
            headers=signed_headers(SECRET, body, stamp),
        )

    def current(self) -> dict[str, Any]:
        """Return the approval message as it is now, after every update."""
        call = self.approval_call()
        assert call is not None
        return self.api.message(call.answer["ts"])

    def click_and_read_reply(self, action: str) -> str:
        """Click, then wait for the endpoint's ephemeral reply and return its text."""
        before = len(self.api.calls("chat.postEphemeral"))
        assert self.click(action).status_code == 200
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            replies = self.api.calls("chat.postEphemeral")
            if len(replies) > before:
                return str(replies[-1].arguments["text"])
            time.sleep(0.05)
        raise AssertionError("the endpoint sent no ephemeral reply")


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    for block in message.get("blocks", []):
        if block["type"] == "actions":
            return list(block["elements"])
    return []


@pytest.fixture
def slack_side(rollout_env: RolloutEnv, slack: MockSlackApi) -> Iterator[SlackSide]:
    runtime = rollout_env.runtime
    runtime.notifier = notifier_for(slack)
    desk = ApprovalDesk(runtime, [APPROVER], resume_step)
    server = BackgroundServer(
        SlackEndpoint(SECRET, desk, release_waiting_runs).app(), "slack-endpoint"
    )
    server.start()
    try:
        yield SlackSide(rollout_env, slack, server.base_url)
    finally:
        server.stop()


@contextmanager
def when_asked(
    side: SlackSide,
    act: Callable[[], Any],
    asked: Callable[[], bool] | None = None,
) -> Iterator[list[Any]]:
    """Run `act` on a thread once asked (default: the approval message is out)."""
    results: list[Any] = []
    ready = threading.Event()
    asked = asked or (lambda: side.approval_message() is not None)

    def wait_then_act() -> None:
        while not ready.wait(0.1):
            if asked():
                results.append(act())
                return

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    try:
        yield results
    finally:
        ready.set()
        thread.join(WAIT_S)


def judged_step(env: RolloutEnv) -> None:
    """Open the 10 % step and give it a window of traffic and feedback."""
    rollout_step(10.0)
    env.run_days(2)
    env.wait_for_feedback()


class TestSlackDecisions:
    def test_approve_in_slack_continues_the_flow(self, slack_side: SlackSide) -> None:
        judged_step(slack_side.env)
        with when_asked(slack_side, lambda: slack_side.click(APPROVE_ACTION)) as done:
            outcome = rollout_step(10.0)
        assert done[0].status_code == 200
        assert outcome["status"] == "approved"
        assert outcome["stage"]["approver"] == "alice (Slack UALICE)"
        message = slack_side.current()
        assert _buttons(message) == []
        assert "*Approved* by alice (Slack UALICE)" in json.dumps(message["blocks"])

    def test_second_click_after_approval_changes_nothing(
        self, slack_side: SlackSide
    ) -> None:
        judged_step(slack_side.env)
        with when_asked(slack_side, lambda: slack_side.click(APPROVE_ACTION)):
            rollout_step(10.0)
        reply = slack_side.click_and_read_reply(REJECT_ACTION)
        assert "already approved by alice" in reply
        assert stage_status(slack_side.env, 10) == "approved"
        assert percentage(slack_side.env) == 10

    def test_reject_in_slack_rolls_back(self, slack_side: SlackSide) -> None:
        judged_step(slack_side.env)
        with when_asked(slack_side, lambda: slack_side.click(REJECT_ACTION)):
            outcome = rollout_step(10.0)
        assert outcome["status"] == "rejected"
        assert percentage(slack_side.env) == 0
        notices = [
            json.dumps(c.arguments.get("blocks"))
            for c in slack_side.api.calls("chat.postMessage")
        ]
        assert any("Rolled back to 0%" in notice for notice in notices)
        assert "rejected and rolled back" in json.dumps(slack_side.current()["blocks"])

    def test_approval_in_prefect_ui_shows_in_slack(self, slack_side: SlackSide) -> None:
        judged_step(slack_side.env)
        approver = DemoApprover("pm in the Prefect UI", poll_interval_s=0.2)
        approver.start()
        try:
            outcome = rollout_step(10.0)
        finally:
            approver.stop()
        assert outcome["status"] == "approved"
        message = slack_side.current()
        assert _buttons(message) == []
        assert "by pm in the Prefect UI" in json.dumps(message["blocks"])

    def test_failed_gate_posts_the_rollback_without_buttons(
        self, slack_side: SlackSide
    ) -> None:
        env = slack_side.env
        rollout_step(10.0)
        env.simulator.set_fault("Cognism", "server_error", rate=0.5)
        env.run_days(2)
        outcome = rollout_step(10.0)
        [post] = slack_side.api.calls("chat.postMessage")
        assert outcome["status"] == "gate_failed"
        assert _buttons(post.arguments) == []
        assert "failed its gate" in post.arguments["text"]
        assert "Automatic rollback" in json.dumps(post.arguments["blocks"])


class TestRollbackWhileWaiting:
    def test_rollback_ends_the_paused_run(self, slack_side: SlackSide) -> None:
        env = slack_side.env

        def roll_back() -> None:
            roll_back_everything(env.runtime, "oncall", "bounces", release_waiting_runs)

        judged_step(env)
        with when_asked(slack_side, roll_back):
            outcome = rollout_step(10.0)
        reply = slack_side.click_and_read_reply(APPROVE_ACTION)
        assert outcome["status"] == "rolled_back"
        assert percentage(env) == 0
        assert "rolled back by oncall" in reply

    def test_woken_run_keeps_the_rollback(self, slack_side: SlackSide) -> None:
        env = slack_side.env
        judged_step(env)
        rollout_step.to_deployment(name="slack-suspend-test").apply()
        created = run_deployment(
            "rollout-step/slack-suspend-test", parameters={"step": 10.0}, timeout=0
        )
        with pytest.raises(Pause):
            run_flow(
                rollout_step, flow_run=read_run(created.id), parameters={"step": 10.0}
            )

        result = rollback(reason="bounces", actor="oncall")
        outcome = run_flow(
            rollout_step, flow_run=read_run(created.id), parameters={"step": 10.0}
        )
        assert result["stages_closed"] == 1
        assert outcome["status"] == "rolled_back"
        assert percentage(env) == 0


class TestTimeout:
    def test_no_decision_holds_reminds_and_records(self, slack_side: SlackSide) -> None:
        env = slack_side.env
        env.runtime.settings = env.runtime.settings.model_copy(
            update={"approval_timeout_s": 3}
        )
        judged_step(env)
        outcome = rollout_step(10.0)
        reply = slack_side.click_and_read_reply(APPROVE_ACTION)
        replies = [
            c.arguments
            for c in slack_side.api.calls("chat.postMessage")
            if c.arguments.get("thread_ts")
        ]
        assert outcome["status"] == "approval_timed_out"
        assert stage_status(env, 10) == "approval_timed_out"
        assert percentage(env) == 10
        assert replies and replies[0]["reply_broadcast"] is True
        assert "holds at 10%" in replies[0]["text"]
        assert "expired" in reply


def suspended_step_run(env: RolloutEnv, name: str) -> Any:
    """A deployment run of the 10 % step, suspended waiting for a decision."""
    judged_step(env)
    rollout_step.to_deployment(name=name).apply()
    created = run_deployment(
        f"rollout-step/{name}", parameters={"step": 10.0}, timeout=0
    )
    with pytest.raises(Pause):
        run_flow(rollout_step, flow_run=read_run(created.id), parameters={"step": 10.0})
    return created


def fail_run(flow_run_id: Any) -> None:
    """Fail a run the way Prefect's server fails an expired pause."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Failed(message="paused and never resumed"), force=True
        )


class TestHourlyRunsWhileWaiting:
    def test_next_run_leaves_the_waiting_run_alone(self, slack_side: SlackSide) -> None:
        created = suspended_step_run(slack_side.env, "hourly-wait-test")
        outcome = rollout_step(10.0)
        assert outcome["status"] == "awaiting_approval"
        assert str(created.id) in outcome["detail"]
        assert len(slack_side.api.calls("chat.postMessage")) == 1

    def test_expired_waiting_run_records_the_timeout(
        self, slack_side: SlackSide
    ) -> None:
        env = slack_side.env
        created = suspended_step_run(env, "hourly-expiry-test")
        fail_run(created.id)
        env.clock.advance(timedelta(seconds=env.runtime.settings.approval_timeout_s))
        outcome = rollout_step(10.0)
        replies = [
            c.arguments["text"]
            for c in slack_side.api.calls("chat.postMessage")
            if c.arguments.get("thread_ts")
        ]
        assert outcome["status"] == "approval_timed_out"
        assert stage_status(env, 10) == "approval_timed_out"
        assert percentage(env) == 10
        assert "still needs a decision" in replies[0]

    def test_run_that_crashed_early_is_replaced(self, slack_side: SlackSide) -> None:
        env = slack_side.env
        created = suspended_step_run(env, "hourly-crash-test")
        fail_run(created.id)

        def replaced_and_paused() -> bool:
            with env.runtime.store.session() as session:
                stage = repo.latest_stage(session, env.runtime.plan.rollout_name, 10)
                waiting = stage.flow_run_id
            return waiting != str(created.id) and run_state(waiting) == "paused"

        click = lambda: slack_side.click(APPROVE_ACTION)  # noqa: E731
        with when_asked(slack_side, click, replaced_and_paused):
            outcome = rollout_step(10.0)
        assert outcome["status"] == "approved"
        assert len(slack_side.api.calls("chat.postMessage")) == 1
