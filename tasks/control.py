"""Prefect API calls made on a step's flow run from outside it.

Used by the Slack endpoint (resume a paused step with a decision) and by every
rollback (end the runs still waiting on the steps it closed). They are plain
functions, not tasks, because they also run where no flow is running.
"""

from __future__ import annotations

import time
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound
from prefect.flow_runs import resume_flow_run

from waterfall.errors import StepNotWaitingError
from waterfall.logging import get_logger
from waterfall.rollout import StageView, approval_key

log = get_logger("tasks.control")

PAUSE_SETTLE_S = 10.0  # maximum wait for a run that is about to pause
PAUSE_POLL_S = 0.2
SCHEMA_NOT_SAVED = "Run input schema not found"  # Prefect server's refusal text


def resume_step(
    flow_run_id: str, answer: dict[str, str], pause_key: str | None = None
) -> None:
    """Resume a paused or suspended step run with a decision.

    The Slack message goes out just before the run pauses, so a fast click can
    find the run still running towards its pause. With the pause key given, a
    running run that has not reached that pause yet is waited for, up to
    PAUSE_SETTLE_S. Raises StepNotWaitingError when the run is not paused,
    has expired, or does not exist.
    """
    try:
        run_id = UUID(flow_run_id)
    except ValueError as exc:
        raise StepNotWaitingError(flow_run_id or "(none)", "unknown") from exc
    deadline = time.monotonic() + PAUSE_SETTLE_S
    while True:
        try:
            resume_flow_run(run_id, run_input=answer)
            return
        except NotPausedError as exc:
            state, about_to_pause = _pause_progress(run_id, pause_key)
            if not about_to_pause or time.monotonic() > deadline:
                raise StepNotWaitingError(flow_run_id, state) from exc
        except RuntimeError as exc:
            # A pausing run saves its input schema just after it turns Paused,
            # and the server refuses a resume that arrives in between.
            if SCHEMA_NOT_SAVED not in str(exc) or time.monotonic() > deadline:
                raise StepNotWaitingError(flow_run_id, "refusing input") from exc
        except FlowPauseTimeout as exc:
            raise StepNotWaitingError(flow_run_id, "expired") from exc
        except ObjectNotFound as exc:
            raise StepNotWaitingError(flow_run_id, "not found") from exc
        time.sleep(PAUSE_POLL_S)


def release_waiting_runs(closed: list[StageView], actor: str, reason: str) -> None:
    """End every run still paused on a stage a rollback closed.

    Each is resumed with a rejection; on waking it finds its stage rolled back
    and ends without changing anything. If the Prefect API cannot be reached,
    the rollback is already in effect, and the run finds its stage closed when
    it wakes or times out.
    """
    answer = {"decision": "reject", "approver": actor[:128], "comment": reason}
    for stage in closed:
        if stage.flow_run_id is None:
            continue
        try:
            resume_step(stage.flow_run_id, answer, approval_key(stage.id))
        except StepNotWaitingError:
            continue
        except (httpx.HTTPError, RuntimeError) as exc:
            log.warning(
                "rollback.run_not_released",
                stage_id=stage.id,
                flow_run_id=stage.flow_run_id,
                error=type(exc).__name__,
            )
            continue
        log.info(
            "rollback.run_released", stage_id=stage.id, flow_run_id=stage.flow_run_id
        )


def _pause_progress(run_id: UUID, pause_key: str | None) -> tuple[str, bool]:
    """Return the run's state name and whether it is running towards the pause."""
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
    state = flow_run.state
    name = "unknown" if state is None or state.name is None else state.name.lower()
    if pause_key is None or state is None or not state.is_running():
        return name, False
    reached = pause_key in (flow_run.empirical_policy.pause_keys or set())
    return name, not reached


def run_state(flow_run_id: str) -> str:
    """Return 'paused' for a paused or suspended run, else its state name."""
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        return "unknown"
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run_id).state
    except ObjectNotFound:
        return "not found"
    if state is None:
        return "unknown"
    return "paused" if state.is_paused() else (state.name or "unknown").lower()
