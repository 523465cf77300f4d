"""The rollout flows on Prefect for real: pause, resume with input, rollback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.flow_runs import resume_flow_run

from flows.approver import DemoApprover
from flows.rollout import rollback, rollout, rollout_step
from tests.flows.conftest import RolloutEnv
from waterfall.store import repository as repo

pytestmark = pytest.mark.prefect


@contextmanager
def answering(decision: str) -> Iterator[DemoApprover]:
    approver = DemoApprover(f"test {decision}", decision=decision, poll_interval_s=0.2)
    approver.start()
    try:
        yield approver
    finally:
        approver.stop()


def percentage(env: RolloutEnv) -> float:
    with env.runtime.store.session() as session:
        return repo.get_percentage(session, env.runtime.plan.rollout_name)


def stage_status(env: RolloutEnv, step: float) -> str:
    with env.runtime.store.session() as session:
        return repo.latest_stage(session, env.runtime.plan.rollout_name, step).status


class TestRolloutStep:
    def test_first_run_sets_percentage_and_monitors(
        self, rollout_env: RolloutEnv
    ) -> None:
        outcome = rollout_step(10.0)
        assert outcome["status"] == "monitoring"
        assert percentage(rollout_env) == 10

    def test_approval_through_pause_and_resume(self, rollout_env: RolloutEnv) -> None:
        rollout_step(10.0)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        with answering("approve") as approver:
            outcome = rollout_step(10.0)
        assert outcome["verdict"] == "pass", outcome["gate"]
        assert outcome["status"] == "approved"
        assert stage_status(rollout_env, 10) == "approved"
        assert len(approver.approvals) == 1

    def test_blank_approver_is_refused_and_run_waits(
        self, rollout_env: RolloutEnv
    ) -> None:
        rollout_step(10.0)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        refused: list[str] = []

        def answer_badly_then_well(flow_run_id, _name) -> None:
            for bad in ("", "   ", "x" * 129):
                try:
                    resume_flow_run(
                        flow_run_id, run_input={"decision": "reject", "approver": bad}
                    )
                except RuntimeError:
                    refused.append(bad)
            resume_flow_run(
                flow_run_id, run_input={"decision": "reject", "approver": "pm"}
            )

        with answering("reject") as approver:
            approver._approve = answer_badly_then_well  # type: ignore[method-assign]
            outcome = rollout_step(10.0)
        assert len(refused) == 3
        assert outcome["status"] == "rejected"
        assert outcome["stage"]["approver"] == "pm"
        assert percentage(rollout_env) == 0

    def test_rejection_rolls_back(self, rollout_env: RolloutEnv) -> None:
        rollout_step(10.0)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        with answering("reject"):
            outcome = rollout_step(10.0)
        assert outcome["status"] == "rejected"
        assert percentage(rollout_env) == 0
        assert stage_status(rollout_env, 10) == "rejected"

    def test_failed_gate_rolls_back(self, rollout_env: RolloutEnv) -> None:
        rollout_step(10.0)
        rollout_env.simulator.set_fault("Cognism", "server_error", rate=0.5)
        rollout_env.run_days(2)
        outcome = rollout_step(10.0)
        failed = [c["name"] for c in outcome["gate"]["checks"] if c["passed"] is False]
        assert outcome["status"] == "gate_failed"
        assert "vendor_error_rate" in failed
        assert percentage(rollout_env) == 0

    def test_thin_data_extends_window_instead_of_deciding(
        self, rollout_env: RolloutEnv
    ) -> None:
        plan = rollout_env.runtime.plan
        rollout_env.runtime.plan = plan.model_copy(
            update={"min_searches_per_arm": 10**6}
        )
        rollout_step(10.0)
        rollout_env.run_days(2)
        outcome = rollout_step(10.0)
        assert outcome["verdict"] == "inconclusive"
        assert outcome["status"] == "monitoring"
        assert outcome["stage"]["extensions"] == 1
        assert percentage(rollout_env) == 10

    def test_inconclusive_after_extension_asks_a_person(
        self, rollout_env: RolloutEnv
    ) -> None:
        plan = rollout_env.runtime.plan
        rollout_env.runtime.plan = plan.model_copy(
            update={"min_searches_per_arm": 10**6}
        )
        rollout_step(10.0)
        rollout_env.run_days(2)
        extended = rollout_step(10.0)
        rollout_env.run_days(1)
        with answering("approve"):
            outcome = rollout_step(10.0)
        assert extended["status"] == "monitoring"
        assert outcome["verdict"] == "inconclusive"
        assert outcome["status"] == "approved"
        assert stage_status(rollout_env, 10) == "approved"

    def test_step_out_of_order_fails_without_force(
        self, rollout_env: RolloutEnv
    ) -> None:
        state = rollout_step(25.0, return_state=True)
        assert state.is_failed()
        assert percentage(rollout_env) == 0


class TestRolloutParent:
    def test_parent_chains_steps_after_approval(self, rollout_env: RolloutEnv) -> None:
        first = rollout()
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        with answering("approve"):
            second = rollout()
        assert [o["status"] for o in first] == ["monitoring"]
        assert [(o["step"], o["status"]) for o in second] == [
            (10, "approved"),
            (25, "monitoring"),
        ]
        assert percentage(rollout_env) == 25

    def test_rollback_flow_returns_to_zero(self, rollout_env: RolloutEnv) -> None:
        rollout()
        result = rollback(reason="test rollback", actor="oncall")
        assert result["stages_closed"] == 1
        assert percentage(rollout_env) == 0
        assert stage_status(rollout_env, 10) == "rolled_back"


class TestSuspendFromDeployment:
    def test_deployment_run_suspends_then_resumes(
        self, rollout_env: RolloutEnv
    ) -> None:
        rollout_step(10.0)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        rollout_step.to_deployment(name="suspend-test").apply()
        created = run_deployment(
            "rollout-step/suspend-test", parameters={"step": 10.0}, timeout=0
        )

        # A worker would run this in a process that exits on suspend.
        with pytest.raises(Pause):
            run_flow(
                rollout_step, flow_run=read_run(created.id), parameters={"step": 10.0}
            )
        suspended = read_run(created.id)
        waiting = stage_status(rollout_env, 10)

        resume_flow_run(created.id, run_input={"decision": "approve", "approver": "pm"})
        outcome = run_flow(
            rollout_step, flow_run=read_run(created.id), parameters={"step": 10.0}
        )

        assert suspended.state.name == "Suspended"
        assert waiting == "awaiting_approval"
        assert outcome["status"] == "approved"
        assert outcome["stage"]["approver"] == "pm"

    def test_schedule_never_undoes_a_rollback(self, rollout_env: RolloutEnv) -> None:
        rollout_step(None)
        rollback(reason="bounces up", actor="oncall")
        held = rollout_step(None)
        after_hold = percentage(rollout_env)
        restarted = rollout_step(10.0)
        assert held["status"] == "held"
        assert after_hold == 0
        assert "rollout-step with step 10" in held["detail"]
        assert restarted["status"] == "monitoring"
        assert percentage(rollout_env) == 10

    def test_step_none_runs_the_next_step(self, rollout_env: RolloutEnv) -> None:
        outcome = rollout_step(None)
        assert outcome["step"] == 10
        assert outcome["status"] == "monitoring"


def read_run(flow_run_id):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)
