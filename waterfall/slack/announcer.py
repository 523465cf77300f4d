"""Post rollout news to the channel: approval requests, decisions, rollbacks.

Each step has at most one message. It is posted when the step needs a person
(or its gate failed) and edited in place afterwards, whatever ended the step:
a Slack button, the Prefect UI form, a timeout or a rollback.
"""

from __future__ import annotations

from typing import Any

from waterfall import rollout as core
from waterfall.logging import get_logger
from waterfall.rollout import StageView
from waterfall.runtime import Runtime
from waterfall.slack import messages
from waterfall.slack.notifier import MessageRef
from waterfall.store.models import RolloutStage

log = get_logger("slack.announcer")

# Stage status -> how the message names the outcome.
_OUTCOMES = {
    "approved": "approved",
    "rejected": "rejected and rolled back",
    "rolled_back": "rolled back",
    "gate_failed": "gate failed, rolled back",
}


class RolloutAnnouncer:
    """Posts and edits the one Slack message of each rollout step."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.notifier = runtime.slack()

    def approval_requested(self, stage_id: int) -> StageView:
        """Post the approve/reject message, once per stage."""
        stage, evaluation = self._load(stage_id)
        if stage.slack_ts is not None:
            return stage
        blocks = messages.approval_request(self._summary(stage, evaluation))
        return self._post(stage, blocks)

    def gate_failed(self, stage_id: int, reason: str) -> StageView:
        """Post the failed gate and the automatic rollback, with no buttons."""
        stage, evaluation = self._load(stage_id)
        blocks = messages.gate_failure(self._summary(stage, evaluation), reason)
        if stage.slack_ts is not None:
            self.notifier.update(_ref(stage), blocks)
            return stage
        return self._post(stage, blocks)

    def decided(self, stage_id: int) -> None:
        """Replace the buttons with the stage's outcome, who decided and when."""
        stage, evaluation = self._load(stage_id)
        if stage.slack_ts is None:
            return
        outcome = _OUTCOMES.get(stage.status, stage.status.replace("_", " "))
        blocks = messages.decided(
            self._summary(stage, evaluation),
            outcome,
            stage.approver or "nobody",
            stage.decided_at or self.runtime.clock.now(),
            stage.decision_comment or "",
        )
        self.notifier.update(_ref(stage), blocks)

    def show_outcome(
        self, ref: MessageRef, stage_id: int, outcome: str, who: str, comment: str
    ) -> None:
        """Replace a message's buttons with an outcome decided just now."""
        stage, evaluation = self._load(stage_id)
        blocks = messages.decided(
            self._summary(stage, evaluation),
            outcome,
            who,
            self.runtime.clock.now(),
            comment,
        )
        self.notifier.update(ref, blocks)

    def timed_out(self, stage_id: int) -> None:
        """Mark the request expired and remind the channel the step holds."""
        stage, evaluation = self._load(stage_id)
        if stage.slack_ts is None:
            return
        timeout_h = self.runtime.settings.approval_timeout_s / 3600
        outcome = (
            f"no decision within {timeout_h:g} h, holding at {stage.percentage:g}%"
        )
        blocks = messages.decided(
            self._summary(stage, evaluation),
            outcome,
            "nobody",
            stage.decided_at or self.runtime.clock.now(),
        )
        self.notifier.update(_ref(stage), blocks)
        self.notifier.reply(
            _ref(stage),
            f":hourglass: Step {stage.percentage:g}% still needs a decision. It "
            f"holds at {stage.percentage:g}% and neither advances nor rolls back. "
            "Run the rollout-step deployment again to judge a fresh window and "
            "ask anew.",
        )

    def rolled_back(self, actor: str, reason: str, closed: list[StageView]) -> None:
        """Announce a rollback and mark every step it cancelled."""
        self.notifier.post(messages.rollback_notice(actor, reason, closed))
        for stage in closed:
            self.decided(stage.id)

    def _post(self, stage: StageView, blocks: list[dict[str, Any]]) -> StageView:
        ref = self.notifier.post(blocks)
        if ref is None:
            return stage
        log.info("slack.step_message_posted", stage_id=stage.id, step=stage.percentage)
        return core.attach_message(self.runtime.store, stage.id, ref.channel, ref.ts)

    def _load(self, stage_id: int) -> tuple[StageView, dict[str, Any]]:
        with self.runtime.store.session() as session:
            record = session.get_one(RolloutStage, stage_id)
            evaluation = {
                "verdict": record.gate_verdict or "n/a",
                "gate": record.gate_results or {},
                "metrics": record.metrics or {},
            }
            return StageView.of(record), evaluation

    def _summary(
        self, stage: StageView, evaluation: dict[str, Any]
    ) -> messages.StepSummary:
        plan = self.runtime.plan
        return messages.StepSummary.build(
            stage.id,
            stage.percentage,
            evaluation,
            plan.control_config,
            plan.treatment_config,
            flow_run_url(self.runtime, stage.flow_run_id),
        )


def flow_run_url(runtime: Runtime, flow_run_id: str | None) -> str | None:
    """Link to a flow run in the Prefect UI."""
    if flow_run_id is None:
        return None
    base = runtime.settings.prefect_ui_url.rstrip("/")
    return f"{base}/runs/flow-run/{flow_run_id}"


def _ref(stage: StageView) -> MessageRef:
    assert stage.slack_channel is not None and stage.slack_ts is not None
    return MessageRef(stage.slack_channel, stage.slack_ts)
