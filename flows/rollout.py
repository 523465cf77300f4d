"""The rollout: one flow run per percentage step, and a parent that chains them.

A step never keeps a worker busy for its monitoring window. Its first run opens
the stage and sets the percentage, then ends in "monitoring". A later run
(from the schedule in deployments/, or the demo after simulated days) finds
the window elapsed, judges it, and either rolls back, extends the window, or
pauses for a human decision.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import StringConstraints

from tasks.rollout import (
    await_decision,
    begin_step,
    evaluate_stage,
    extend_window,
    read_stage,
    read_stage_statuses,
    record_decision,
    roll_back,
    rollback_hold,
    stage_dict,
    stored_evaluation,
    waiting_run_state,
)
from tasks.slack import (
    announce_approval_request,
    announce_decision,
    announce_gate_failure,
    announce_timeout,
)
from waterfall.report import approval_description
from waterfall.rollout import StageView, approval_key
from waterfall.runtime import get_runtime

AUTOMATIC = "rollout gate (automatic)"


class ApprovalInput(RunInput):
    """The decision a person gives on a step whose gate passed.

    The limits match the store's columns. Prefect's server checks input
    against this schema, so a blank or over-long name is rejected at resume
    and the run keeps waiting instead of failing halfway through a rollback.
    """

    decision: Literal["approve", "reject"]
    # The server checks the JSON schema, which cannot strip spaces, so the
    # pattern requires one visible character instead.
    approver: Annotated[str, StringConstraints(pattern=r"\S", max_length=128)]
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


@flow(name="rollout-step", persist_result=True)
def rollout_step(
    step: float | None = None, force: bool = False, actor: str = "prefect"
) -> dict[str, Any]:
    """Run one rollout step: start it, or judge its finished window and decide.

    With no step, it runs the plan's first step not approved since the last
    rollback, which is what the hourly deployment does. It never restarts the
    plan after a rollback: a person does that with an explicit step.
    """
    if step is None:
        step = _next_step()
        if step is None:
            return {"step": None, "status": "complete", "detail": "every step approved"}
        hold = rollback_hold()
        if hold is not None:
            detail = f"{hold}: run rollout-step with step {step:g} to start again"
            return {"step": None, "status": "held", "detail": detail}
    stage = begin_step(step, force, actor, _flow_run_id())
    now = get_runtime().clock.now()
    if stage.status == "monitoring" and now < stage.window_end:
        return _outcome(
            stage, "monitoring", f"window ends {stage.window_end.isoformat()}"
        )
    if stage.status == "monitoring":
        evaluation = evaluate_stage(stage)
        return _act_on_verdict(stage, evaluation)
    if stage.status != "awaiting_approval":
        # A suspended run woke after its stage was closed (by a rollback, say).
        return _outcome(stage, stage.status, "the step ended while this run waited")
    if stage.flow_run_id not in (None, _flow_run_id()):
        return _check_on_waiting_run(stage)
    # The stage already waits for a decision: this run resumed after a suspend,
    # or replaces a paused run that died. Ask again with the stored evaluation.
    return _ask_for_approval(stage, stored_evaluation(stage))


def _act_on_verdict(stage: StageView, evaluation: dict[str, Any]) -> dict[str, Any]:
    plan = get_runtime().plan
    verdict = evaluation["verdict"]
    if verdict == "fail":
        gate_reason = evaluation["gate"].get("reason", "")
        reason = f"gate failed at {stage.percentage:g}%: {gate_reason}"
        roll_back(AUTOMATIC, reason, announce=False)
        stage = record_decision(stage, "gate_failed", "rolled_back", AUTOMATIC, reason)
        announce_gate_failure(stage.id, reason)
        return _outcome(stage, "gate_failed", reason, evaluation)
    if verdict == "inconclusive" and stage.extensions < plan.max_extensions:
        stage = extend_window(stage)
        detail = (
            f"inconclusive, window extended: {evaluation['gate'].get('reason', '')}"
        )
        return _outcome(stage, "monitoring", detail, evaluation)
    return _ask_for_approval(stage, evaluation)


def _ask_for_approval(stage: StageView, evaluation: dict[str, Any]) -> dict[str, Any]:
    settings = get_runtime().settings
    stage = await_decision(stage, _flow_run_id())
    announce_approval_request(stage.id)
    form = ApprovalInput.with_initial_data(
        description=approval_description(stage, evaluation), comment=""
    )
    try:
        answer = _wait_for_decision(stage, form)
    except FlowPauseTimeout:
        if read_stage(stage.id).status != "awaiting_approval":
            return _outcome(stage, "rolled_back", "closed while it waited", evaluation)
        reason = f"no decision within {settings.approval_timeout_s} s: holding"
        stage = record_decision(stage, "approval_timed_out", "none", "nobody", reason)
        announce_timeout(stage.id)
        return _outcome(stage, "approval_timed_out", reason, evaluation)
    current = read_stage(stage.id)
    if current.status != "awaiting_approval":
        # A rollback closed the step while it waited, and woke this run.
        detail = f"{current.status} by {current.approver}: {current.decision_comment}"
        return _outcome(current, current.status, detail, evaluation)
    return _apply_answer(stage, answer, evaluation)


def _check_on_waiting_run(stage: StageView) -> dict[str, Any]:
    """Another run already asked for this decision: leave it, or replace it.

    The hourly deployment would otherwise start one more waiting run every
    hour. A run that still waits keeps the question. One that ended without a
    decision after the approval timeout means the step timed out: record it and
    remind the channel. One that ended early (crashed, cancelled) is replaced.
    """
    settings = get_runtime().settings
    state = waiting_run_state(stage.flow_run_id or "")
    if state == "paused":
        detail = f"flow run {stage.flow_run_id} waits for the decision"
        return _outcome(stage, "awaiting_approval", detail)
    requested_at = stage.evaluated_at or stage.window_end
    expired = get_runtime().clock.now() >= requested_at + timedelta(
        seconds=settings.approval_timeout_s
    )
    if not expired:
        return _ask_for_approval(stage, stored_evaluation(stage))
    reason = f"no decision within {settings.approval_timeout_s} s: holding"
    stage = record_decision(stage, "approval_timed_out", "none", "nobody", reason)
    announce_timeout(stage.id)
    return _outcome(stage, "approval_timed_out", reason)


def _apply_answer(
    stage: StageView, answer: ApprovalInput, evaluation: dict[str, Any]
) -> dict[str, Any]:
    if answer.decision == "approve":
        stage = record_decision(
            stage, "approved", "approve", answer.approver, answer.comment
        )
        announce_decision(stage.id)
        return _outcome(stage, "approved", answer.comment, evaluation)
    reason = f"rejected by {answer.approver}: {answer.comment}"
    roll_back(answer.approver, reason)
    stage = record_decision(
        stage, "rejected", "reject", answer.approver, answer.comment
    )
    announce_decision(stage.id)
    return _outcome(stage, "rejected", reason, evaluation)


def _wait_for_decision(stage: StageView, form: Any) -> ApprovalInput:
    """Pause, or suspend when the run comes from a deployment.

    A paused run keeps its process, and so its worker slot, until someone
    decides. A deployment run can suspend instead: its process exits, and on
    resume the run starts again from the top, finds the stage awaiting a
    decision, and the same pause key returns the input that was given.
    """
    settings = get_runtime().settings
    key = approval_key(stage.id)
    if _deployment_id() is not None:
        answer = suspend_flow_run(
            wait_for_input=form, timeout=settings.approval_timeout_s, key=key
        )
    else:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=settings.approval_timeout_s,
            poll_interval=settings.approval_poll_interval_s,
            key=key,
        )
    return answer  # type: ignore[no-any-return]


def _next_step() -> float | None:
    statuses = read_stage_statuses()
    pending = [s for s in get_runtime().plan.steps if statuses.get(s) != "approved"]
    return pending[0] if pending else None


@flow(name="rollout")
def rollout(force: bool = False, actor: str = "prefect") -> list[dict[str, Any]]:
    """Run the plan's steps in order, stopping at the first that is not approved."""
    outcomes = []
    statuses = read_stage_statuses()
    for step in get_runtime().plan.steps:
        if statuses.get(step) == "approved":
            continue
        outcome = rollout_step(step, force=force, actor=actor)
        outcomes.append(outcome)
        if outcome["status"] != "approved":
            break
    return outcomes


@flow(name="rollback")
def rollback(reason: str, actor: str = "prefect") -> dict[str, Any]:
    """Return every subject to the control config at once."""
    closed = roll_back(actor, reason)
    return {
        "percentage": 0.0,
        "stages_closed": closed,
        "reason": reason,
        "actor": actor,
    }


def _deployment_id() -> str | None:
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    deployment = None if flow_run is None else flow_run.deployment_id
    return None if deployment is None else str(deployment)


def _flow_run_id() -> str | None:
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    return None if flow_run is None else str(flow_run.id)


def _outcome(
    stage: StageView, status: str, detail: str, evaluation: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "step": stage.percentage,
        "status": status,
        "detail": detail,
        "stage": stage_dict(stage),
        "verdict": None if evaluation is None else evaluation["verdict"],
        "gate": None if evaluation is None else evaluation["gate"],
    }
