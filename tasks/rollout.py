"""Tasks of a rollout step: open the stage, evaluate it, decide, roll back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.control import release_waiting_runs, run_state
from waterfall import rollout as core
from waterfall.gate import evaluate_gate
from waterfall.metrics import load_window, metrics_json
from waterfall.rollback import roll_back_everything
from waterfall.rollout import StageView
from waterfall.runtime import get_runtime
from waterfall.store import repository as repo
from waterfall.store.models import RolloutStage

# Every task here changes or reads live state, so none may be served from cache.


@task(name="begin-step", cache_policy=NO_CACHE)
def begin_step(
    step: float, force: bool, actor: str, flow_run_id: str | None
) -> StageView:
    """Check the previous step, set the percentage and open the stage."""
    runtime = get_runtime()
    return core.begin_step(
        runtime.store,
        runtime.plan,
        step,
        runtime.clock.now(),
        actor,
        force,
        flow_run_id,
    )


@task(name="evaluate-stage", cache_policy=NO_CACHE)
def evaluate_stage(stage: StageView) -> dict[str, Any]:
    """Measure the stage's window, run the gate and store both."""
    runtime = get_runtime()
    now = runtime.clock.now()
    window = load_window(runtime.store, stage.window_start, stage.window_end, as_of=now)
    baseline = _baseline_window(stage, now)
    gate = evaluate_gate(window, runtime.plan, stage.percentage, baseline=baseline)
    metrics = metrics_json(window, runtime.plan)
    status = "awaiting_approval" if gate.verdict == "pass" else "monitoring"
    core.record_evaluation(
        runtime.store, stage.id, metrics, gate.to_dict(), gate.verdict, status, now
    )
    return {"verdict": gate.verdict, "gate": gate.to_dict(), "metrics": metrics}


def _baseline_window(stage: StageView, now: datetime) -> Any:
    # At 100 % no subject is on the control config, so the comparison uses the
    # previous step's window as the control baseline.
    runtime = get_runtime()
    if stage.percentage < 100:
        return None
    previous = runtime.plan.previous_step(stage.percentage)
    if previous is None:
        return None
    with runtime.store.session() as session:
        earlier = repo.latest_stage(session, runtime.plan.rollout_name, previous)
        if earlier is None:
            return None
        start, end = earlier.window_start, earlier.window_end
    return load_window(runtime.store, start, end, as_of=now)


@task(name="stored-evaluation", cache_policy=NO_CACHE)
def stored_evaluation(stage: StageView) -> dict[str, Any]:
    """Return the verdict, gate results and metrics stored on a stage."""
    runtime = get_runtime()
    with runtime.store.session() as session:
        record = session.get_one(RolloutStage, stage.id)
        return {
            "verdict": record.gate_verdict or "pass",
            "gate": record.gate_results or {},
            "metrics": record.metrics or {},
        }


@task(name="read-stage", cache_policy=NO_CACHE)
def read_stage(stage_id: int) -> StageView:
    """Return a stage as it is in the store now."""
    return core.get_stage(get_runtime().store, stage_id)


@task(name="await-decision", cache_policy=NO_CACHE)
def await_decision(stage: StageView, flow_run_id: str | None) -> StageView:
    """Mark the stage as waiting for a decision by this flow run."""
    return core.await_decision(get_runtime().store, stage.id, flow_run_id)


@task(name="waiting-run-state", cache_policy=NO_CACHE)
def waiting_run_state(flow_run_id: str) -> str:
    """'paused' while the run waits for input, else its state name in lower case."""
    return run_state(flow_run_id)


@task(name="extend-window", cache_policy=NO_CACHE)
def extend_window(stage: StageView) -> StageView:
    """Add the plan's extension to an inconclusive stage's window."""
    runtime = get_runtime()
    return core.extend_window(
        runtime.store, stage.id, runtime.plan.window_extension_days
    )


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(
    stage: StageView, status: str, decision: str, approver: str, comment: str
) -> StageView:
    """Store a decision on a stage."""
    runtime = get_runtime()
    return core.record_decision(
        runtime.store,
        stage.id,
        status,
        decision,
        approver,
        comment,
        runtime.clock.now(),
    )


@task(name="roll-back", cache_policy=NO_CACHE)
def roll_back(actor: str, reason: str, announce: bool = True) -> int:
    """Set the rollout to 0 %, close open stages, end their runs, tell Slack."""
    result = roll_back_everything(
        get_runtime(), actor, reason, release_waiting_runs, announce
    )
    return len(result.closed)


@task(name="rollback-hold", cache_policy=NO_CACHE)
def rollback_hold() -> str | None:
    """Describe the last rollback if no step has started since it, else None."""
    runtime = get_runtime()
    return core.rollback_hold(runtime.store, runtime.plan.rollout_name)


@task(name="read-stages", cache_policy=NO_CACHE)
def read_stage_statuses() -> dict[float, str]:
    """Return the newest status of every step started since the last rollback."""
    runtime = get_runtime()
    statuses: dict[float, str] = {}
    with runtime.store.session() as session:
        since = repo.last_rollback_at(session, runtime.plan.rollout_name)
        for step in runtime.plan.steps:
            stage = repo.latest_stage(session, runtime.plan.rollout_name, step, since)
            if stage is not None:
                statuses[step] = stage.status
    return statuses


def stage_dict(stage: StageView) -> dict[str, Any]:
    """Return a JSON-safe copy of a stage view."""
    data = asdict(stage)
    data["window_start"] = stage.window_start.isoformat()
    data["window_end"] = stage.window_end.isoformat()
    return data
