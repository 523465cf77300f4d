"""Tasks that keep each rollout step's Slack message up to date."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from waterfall.runtime import get_runtime
from waterfall.slack.announcer import RolloutAnnouncer

# Messages reflect live state, so no task here may be served from cache. The
# notifier logs Slack API and connection failures instead of raising them.


@task(name="announce-approval-request", cache_policy=NO_CACHE)
def announce_approval_request(stage_id: int) -> None:
    """Post the approve/reject message for a stage, unless it already has one."""
    RolloutAnnouncer(get_runtime()).approval_requested(stage_id)


@task(name="announce-gate-failure", cache_policy=NO_CACHE)
def announce_gate_failure(stage_id: int, reason: str) -> None:
    """Post a failed gate and its automatic rollback."""
    RolloutAnnouncer(get_runtime()).gate_failed(stage_id, reason)


@task(name="announce-decision", cache_policy=NO_CACHE)
def announce_decision(stage_id: int) -> None:
    """Replace a stage's buttons with its decision, from Slack or the Prefect UI."""
    RolloutAnnouncer(get_runtime()).decided(stage_id)


@task(name="announce-timeout", cache_policy=NO_CACHE)
def announce_timeout(stage_id: int) -> None:
    """Mark a stage's request expired and remind the channel that it holds."""
    RolloutAnnouncer(get_runtime()).timed_out(stage_id)
