"""Rollout operations: set and roll back the percentage, and run step records.

A step's stage record moves through these statuses:

    monitoring -> awaiting_approval -> approved | rejected
    monitoring -> gate_failed                        (rolled back)
    monitoring -> monitoring                         (window extended once)
    awaiting_approval -> approval_timed_out          (keeps its percentage)
    monitoring | awaiting_approval -> rolled_back    (a rollback cancelled it)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from waterfall.errors import NotFoundError, RolloutError, StepOrderError
from waterfall.logging import get_logger
from waterfall.plan import RolloutPlan
from waterfall.store import Store
from waterfall.store import repository as repo
from waterfall.store.models import RolloutStage

log = get_logger("rollout")

OPEN_STATUSES = ("monitoring", "awaiting_approval")
MAX_ACTOR_CHARS = 128  # the width of rollout_history.changed_by


@dataclass(frozen=True)
class StageView:
    """A detached, read-only copy of a stage record."""

    id: int
    percentage: float
    status: str
    window_start: datetime
    window_end: datetime
    extensions: int
    gate_verdict: str | None
    decision: str | None
    approver: str | None
    flow_run_id: str | None = None
    evaluated_at: datetime | None = None
    decided_at: datetime | None = None
    decision_comment: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    rollout_name: str | None = None

    @classmethod
    def of(cls, stage: RolloutStage) -> StageView:
        return cls(
            stage.id,
            stage.percentage,
            stage.status,
            stage.window_start,
            stage.window_end,
            stage.extensions,
            stage.gate_verdict,
            stage.decision,
            stage.approver,
            stage.flow_run_id,
            stage.evaluated_at,
            stage.decided_at,
            stage.decision_comment,
            stage.slack_channel,
            stage.slack_ts,
            stage.rollout_name,
        )


def set_percentage(
    store: Store,
    rollout_name: str,
    percentage: float,
    actor: str,
    reason: str,
    now: datetime,
) -> float | None:
    """Set the rollout percentage; the next search reads it. Returns the old value."""
    if not 0 <= percentage <= 100:
        raise RolloutError(
            f"percentage {percentage} is outside 0..100: pass a value from 0 to 100"
        )
    if not reason.strip():
        raise RolloutError("a reason is required: say why the percentage changes")
    if not actor.strip() or len(actor) > MAX_ACTOR_CHARS:
        raise RolloutError(
            f"actor {actor[:40]!r} is invalid: give a name of 1 to {MAX_ACTOR_CHARS} "
            "characters"
        )
    with store.session() as session:
        old = repo.set_percentage(session, rollout_name, percentage, actor, reason, now)
    log.info(
        "rollout.percentage_set",
        rollout=rollout_name,
        old_percentage=old,
        new_percentage=percentage,
        actor=actor,
        reason=reason,
    )
    return old


def rollback(
    store: Store, rollout_name: str, actor: str, reason: str, now: datetime
) -> list[StageView]:
    """Set the percentage to 0 and close every open stage. Returns those stages.

    The percentage is written first, in its own transaction, so the next
    search uses the control config even if closing the stages fails.
    """
    if not reason.strip():
        raise RolloutError("a reason is required: say why the rollout goes back to 0%")
    set_percentage(store, rollout_name, 0.0, actor, f"rollback: {reason}", now)
    with store.session() as session:
        open_stages = session.scalars(
            select(RolloutStage).where(
                RolloutStage.rollout_name == rollout_name,
                RolloutStage.status.in_(OPEN_STATUSES),
            )
        ).all()
        for stage in open_stages:
            stage.status = "rolled_back"
            stage.decision = stage.decision or "rolled_back"
            stage.decision_comment = reason
            stage.approver = stage.approver or actor
            stage.decided_at = now
        closed = [StageView.of(stage) for stage in open_stages]
    log.warning(
        "rollout.rolled_back",
        rollout=rollout_name,
        actor=actor,
        reason=reason,
        stages_closed=len(closed),
    )
    return closed


def begin_step(
    store: Store,
    plan: RolloutPlan,
    step: float,
    now: datetime,
    actor: str,
    force: bool = False,
    flow_run_id: str | None = None,
) -> StageView:
    """Start a step: check the previous one, set the percentage, open a stage.

    If the step already has an open stage, that stage is returned unchanged,
    so a re-run of the step flow is harmless. A flow run that already opened a
    stage (a suspended run starting again from the top) gets that stage back
    whatever its status, so a rollback in between is never undone.
    """
    with store.session() as session:
        if flow_run_id is not None:
            owned = repo.stage_of_flow_run(session, flow_run_id)
            if owned is not None:
                return StageView.of(owned)
        current = repo.latest_stage(session, plan.rollout_name, step)
        if current is not None and current.status in OPEN_STATUSES:
            return StageView.of(current)
        _check_previous(session, plan, step, force)
    set_percentage(store, plan.rollout_name, step, actor, f"start step {step:g}%", now)
    with store.session() as session:
        stage = RolloutStage(
            rollout_name=plan.rollout_name,
            percentage=step,
            status="monitoring",
            flow_run_id=flow_run_id,
            window_start=now,
            window_end=now + timedelta(days=plan.monitoring_window_days),
            extensions=0,
            started_at=now,
        )
        session.add(stage)
        session.flush()
        view = StageView.of(stage)
    log.info(
        "rollout.step_started",
        rollout=plan.rollout_name,
        step=step,
        window_end=view.window_end.isoformat(),
        forced=force,
    )
    return view


def _check_previous(session: Any, plan: RolloutPlan, step: float, force: bool) -> None:
    previous = plan.previous_step(step)
    if previous is None or force:
        return
    # A rollback restarts the plan: approvals given before it no longer count.
    since = repo.last_rollback_at(session, plan.rollout_name)
    stage = repo.latest_stage(session, plan.rollout_name, previous, since)
    if stage is None or stage.status != "approved":
        raise StepOrderError(
            int(step), int(previous), None if stage is None else stage.status
        )


def extend_window(store: Store, stage_id: int, days: float) -> StageView:
    """Lengthen a stage's monitoring window after an inconclusive gate."""
    with store.session() as session:
        stage = session.get_one(RolloutStage, stage_id)
        stage.window_end = stage.window_end + timedelta(days=days)
        stage.extensions += 1
        stage.status = "monitoring"
        view = StageView.of(stage)
    log.info(
        "rollout.window_extended",
        stage_id=stage_id,
        step=view.percentage,
        window_end=view.window_end.isoformat(),
        extensions=view.extensions,
    )
    return view


def record_evaluation(
    store: Store,
    stage_id: int,
    metrics: dict[str, Any],
    gate: dict[str, Any],
    verdict: str,
    status: str,
    now: datetime,
) -> StageView:
    """Store a stage's metrics snapshot and gate results."""
    view = _update_stage(
        store,
        stage_id,
        metrics=metrics,
        gate_results=gate,
        gate_verdict=verdict,
        status=status,
        evaluated_at=now,
    )
    log.info(
        "rollout.gate_evaluated",
        stage_id=stage_id,
        step=view.percentage,
        verdict=verdict,
        status=status,
    )
    return view


def record_decision(
    store: Store,
    stage_id: int,
    status: str,
    decision: str,
    approver: str,
    comment: str,
    now: datetime,
) -> StageView:
    """Store the human or automatic decision on a stage."""
    view = _update_stage(
        store,
        stage_id,
        status=status,
        decision=decision,
        approver=approver,
        decision_comment=comment,
        decided_at=now,
    )
    log.info(
        "rollout.step_decided",
        stage_id=stage_id,
        step=view.percentage,
        decision=decision,
        approver=approver,
        status=status,
    )
    return view


def _update_stage(store: Store, stage_id: int, **columns: Any) -> StageView:
    """Set columns of one stage and return its new state."""
    with store.session() as session:
        stage = session.get_one(RolloutStage, stage_id)
        for name, value in columns.items():
            setattr(stage, name, value)
        return StageView.of(stage)


def get_stage(store: Store, stage_id: int) -> StageView:
    """Return a stage by id."""
    with store.session() as session:
        stage = session.get(RolloutStage, stage_id)
        if stage is None:
            raise NotFoundError(
                "rollout stage",
                str(stage_id),
                "list stages with 'waterfall rollout status'",
            )
        return StageView.of(stage)


def attach_message(store: Store, stage_id: int, channel: str, ts: str) -> StageView:
    """Store the Slack message that requests, or reports, a stage's decision."""
    return _update_stage(store, stage_id, slack_channel=channel, slack_ts=ts)


def await_decision(store: Store, stage_id: int, flow_run_id: str | None) -> StageView:
    """Mark a stage as waiting for a decision, and record the run that waits.

    A stage whose gate stayed inconclusive after its extensions is still
    "monitoring" when it requests a decision, so the status is set here too. The
    run id lets a rollback find and end the waiting run.
    """
    columns: dict[str, Any] = {"status": "awaiting_approval"}
    if flow_run_id is not None:
        columns["flow_run_id"] = flow_run_id
    return _update_stage(store, stage_id, **columns)


def approval_key(stage_id: int) -> str:
    """Build the Prefect pause key of a stage's approval wait."""
    return f"approval-stage-{stage_id}"


def rollback_hold(store: Store, rollout_name: str) -> str | None:
    """Describe the last rollback if nothing has raised the percentage since.

    A schedule must not undo a rollback: after one, the plan waits at 0 %
    until a person starts its first step again (which writes a new change).
    """
    with store.session() as session:
        since = repo.last_rollback_at(session, rollout_name)
        newest = repo.rollout_history(session, rollout_name, limit=1)
        if since is None or not newest or newest[0].new_percentage > 0:
            return None
        return f"rolled back at {since:%Y-%m-%d %H:%M} UTC by {newest[0].changed_by}"
