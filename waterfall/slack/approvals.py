"""Turn a click on Approve or Reject into a decision on a waiting rollout step.

Every click is checked against the store before anything changes. A click
from someone not on the approver list gets an ephemeral reply and changes
nothing. So does a click on a step already decided, expired or rolled back,
or on a run that no longer waits. Resuming the Prefect flow run is injected
(`resume`), so this module knows nothing of Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from waterfall.errors import NotFoundError, StepNotWaitingError
from waterfall.logging import get_logger
from waterfall.rollout import StageView, approval_key, get_stage
from waterfall.runtime import Runtime
from waterfall.slack.announcer import RolloutAnnouncer
from waterfall.slack.messages import APPROVE_ACTION, REJECT_ACTION
from waterfall.slack.notifier import MessageRef

log = get_logger("slack.approvals")

# Resumes a paused step run: (flow run id, run input, pause key).
Resume = Callable[[str, dict[str, str], str], None]
DECISIONS = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}


@dataclass(frozen=True)
class Click:
    """One button click, as Slack reported it."""

    user_id: str
    user_name: str
    action_id: str
    value: str
    channel: str
    message_ts: str

    @property
    def approver(self) -> str:
        """How the decision names the person: Slack name and user id."""
        name = self.user_name or "unknown"
        return f"{name} (Slack {self.user_id})"[:128]


class ApprovalDesk:
    """Checks each click and resumes the waiting step's flow run with it."""

    def __init__(self, runtime: Runtime, approvers: list[str], resume: Resume) -> None:
        self.runtime = runtime
        self.approvers = set(approvers)
        self.resume = resume
        self.announcer = RolloutAnnouncer(runtime)

    def handle(self, click: Click) -> str:
        """Act on a click and return what happened as a short code.

        The click was acknowledged before this runs, so every failure has to
        reach the clicker here or it is lost.
        """
        try:
            outcome, explanation = self._decide(click)
        except Exception as exc:  # noqa: BLE001  # the handler boundary: log and reply
            log.error(
                "slack.click_failed",
                user_id=click.user_id,
                stage=click.value[:20],
                error=type(exc).__name__,
            )
            outcome, explanation = (
                "failed",
                (
                    "Your click could not be processed (the Prefect API or the store "
                    "did not respond), so nothing changed. Try again in a minute, or "
                    "decide in the Prefect UI's Resume form."
                ),
            )
        log.info(
            "slack.click_handled",
            user_id=click.user_id,
            action=click.action_id,
            stage=click.value[:20],
            outcome=outcome,
        )
        if explanation:
            self.announcer.notifier.ephemeral(click.channel, click.user_id, explanation)
        return outcome

    def _decide(self, click: Click) -> tuple[str, str]:
        if click.user_id not in self.approvers:
            return "not_allowed", (
                "You are not on the approver list for rollout steps, so your "
                "click changed nothing. Ask the rollout owner to add your Slack "
                "user id to WATERFALL_SLACK_APPROVERS."
            )
        decision = DECISIONS.get(click.action_id)
        stage = self._stage(click.value)
        if decision is None or stage is None or not self._owns(stage, click):
            return "unknown_step", "This button does not belong to a rollout step."
        if stage.status != "awaiting_approval":
            self.announcer.decided(stage.id)
            return stage.status, _closed_explanation(stage)
        return self._resume(click, stage, decision)

    def _resume(self, click: Click, stage: StageView, decision: str) -> tuple[str, str]:
        answer = {
            "decision": decision,
            "approver": click.approver,
            "comment": "decided in Slack",
        }
        try:
            self.resume(stage.flow_run_id or "", answer, approval_key(stage.id))
        except StepNotWaitingError as exc:
            if exc.state in ("running", "completed"):
                return "not_waiting", (
                    f"Step {stage.percentage:g}% was decided a moment ago by "
                    "someone else. Your click changed nothing."
                )
            return "not_waiting", (
                f"Step {stage.percentage:g}% no longer waits for a decision (its "
                f"flow run is {exc.state}). Nothing changed; run the rollout-step "
                "deployment again to ask anew."
            )
        outcome = "approved" if decision == "approve" else "rejected and rolled back"
        self.announcer.show_outcome(
            MessageRef(click.channel, click.message_ts),
            stage.id,
            outcome,
            click.approver,
            "decided in Slack",
        )
        return "resumed", ""

    def _owns(self, stage: StageView, click: Click) -> bool:
        """Check the stage is of this rollout and the click is on its message."""
        if stage.rollout_name != self.runtime.plan.rollout_name:
            return False
        return stage.slack_ts is None or stage.slack_ts == click.message_ts

    def _stage(self, value: str) -> StageView | None:
        # isdigit() alone accepts other scripts' digits and superscripts.
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            return None
        try:
            return get_stage(self.runtime.store, int(value))
        except NotFoundError:
            return None


def _closed_explanation(stage: StageView) -> str:
    step = f"Step {stage.percentage:g}%"
    who = stage.approver or "nobody"
    when = "" if stage.decided_at is None else f" at {stage.decided_at:%H:%M} UTC"
    if stage.status == "approval_timed_out":
        return (
            f"{step} expired{when} without a decision and holds at "
            f"{stage.percentage:g}%. Your click changed nothing; run the "
            "rollout-step deployment again to ask anew."
        )
    if stage.status == "rolled_back":
        return f"{step} was rolled back by {who}{when}. Your click changed nothing."
    if stage.status == "monitoring":
        return f"{step} is still being monitored; it has nothing to decide yet."
    return (
        f"{step} was already {stage.status} by {who}{when}. Your click changed nothing."
    )
