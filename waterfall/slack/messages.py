"""Block Kit messages about rollout steps, built from stored stage data.

Every builder is a pure function of its arguments, so a message can be rebuilt
at any time (after a decision, a timeout or a rollback) and compared in tests.
Button values carry only the stage id; the endpoint reads everything else
from the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

APPROVE_ACTION = "rollout_step_approve"
REJECT_ACTION = "rollout_step_reject"

# Gate check name -> label shown in the message.
_CHECK_LABELS = {
    "staleness": "Staleness",
    "accuracy": "Contact accuracy",
    "first_hit_issue_rate": "First-hit issue rate",
    "vendor_error_rate": "Vendor error rate",
    "cost_per_search": "Cost per search",
    "p95_latency": "p95 latency",
    "sample_ratio": "Observed split",
}
# Per-config metric columns shown beside each gate check.
_CHECK_COLUMNS = {
    "staleness": ("staleness_mean_days", "{:.1f} d"),
    "accuracy": ("accuracy", "{:.1%}"),
    "first_hit_issue_rate": ("first_hit_issue_rate", "{:.1%}"),
    "cost_per_search": ("cost_per_search", "${:.3f}"),
    "p95_latency": ("latency_p95_ms", "{:.0f} ms"),
}


@dataclass(frozen=True)
class StepSummary:
    """Facts a message shows about one step: its split and its gate results."""

    stage_id: int
    step: float
    verdict: str
    reason: str
    control: str
    treatment: str
    observed_split: float | None
    flow_run_url: str | None
    checks: list[dict[str, Any]]
    configs: dict[str, dict[str, Any]]

    @classmethod
    def build(
        cls,
        stage_id: int,
        step: float,
        evaluation: dict[str, Any],
        control: str,
        treatment: str,
        flow_run_url: str | None,
    ) -> StepSummary:
        """Collect the message's facts from a stored evaluation."""
        gate = evaluation.get("gate") or {}
        rows = (evaluation.get("metrics") or {}).get("configs") or []
        configs = {row.get("config_name", ""): row for row in rows}
        return cls(
            stage_id=stage_id,
            step=step,
            verdict=str(evaluation.get("verdict", "n/a")),
            reason=str(gate.get("reason", "")),
            control=control,
            treatment=treatment,
            observed_split=_observed_split(gate, configs, treatment),
            flow_run_url=flow_run_url,
            checks=list(gate.get("checks") or []),
            configs=configs,
        )


def _observed_split(
    gate: dict[str, Any], configs: dict[str, dict[str, Any]], treatment: str
) -> float | None:
    """Percent of subjects on the treatment, as the gate's split test saw it.

    Without that check (an old stage, say) it falls back to the share of
    searches, which clusters by subject and so is only approximate.
    """
    for check in gate.get("checks") or []:
        if check.get("name") == "sample_ratio" and check.get("observed") is not None:
            return 100.0 * float(check["observed"])
    searches = {name: row.get("searches") or 0 for name, row in configs.items()}
    total = sum(searches.values())
    return None if total == 0 else 100.0 * searches.get(treatment, 0) / total


def approval_request(summary: StepSummary) -> list[dict[str, Any]]:
    """Build the decision request: gate table, run link and two buttons."""
    if summary.verdict == "pass":
        title = f"Rollout step {summary.step:g}% passed its gate: approve or reject"
    else:
        title = (
            f"Rollout step {summary.step:g}% is still {summary.verdict} after its "
            "window was extended: approve or reject"
        )
    return [
        _header(title),
        *_step_facts(summary),
        _actions(summary.stage_id),
    ]


def gate_failure(summary: StepSummary, rollback_reason: str) -> list[dict[str, Any]]:
    """Build the report of a failed gate and the rollback to 0 %."""
    return [
        _header(f"Rollout step {summary.step:g}% failed its gate: rolled back to 0%"),
        *_step_facts(summary),
        _section(f":rotating_light: Automatic rollback: {rollback_reason}"),
    ]


def decided(
    summary: StepSummary, outcome: str, who: str, when: datetime, comment: str = ""
) -> list[dict[str, Any]]:
    """Build the ended step's message, with its outcome in place of the buttons."""
    title = f"Rollout step {summary.step:g}%: {outcome}"
    line = f"*{outcome.capitalize()}* by {who} at {when:%Y-%m-%d %H:%M} UTC"
    if comment:
        line += f"\n> {comment}"
    return [_header(title), *_step_facts(summary), _section(line)]


def rollback_notice(actor: str, reason: str, closed: list[Any]) -> list[dict[str, Any]]:
    """Build the channel notice of a rollback: who, why, and the steps it cancelled."""
    steps = ", ".join(f"{stage.percentage:g}%" for stage in closed) or "none"
    text = (
        f":rewind: *Rolled back to 0%* by {actor}.\n> {reason}\n"
        f"Every user is on the control config from the next search. "
        f"Waiting steps cancelled: {steps}."
    )
    return [_header("Rollout rolled back to 0%"), _section(text)]


def _step_facts(summary: StepSummary) -> list[dict[str, Any]]:
    split = (
        "n/a" if summary.observed_split is None else f"{summary.observed_split:.1f}%"
    )
    facts = (
        f"*Target split:* {summary.step:g}% on `{summary.treatment}`"
        f"   *Observed:* {split}\n*Gate:* {summary.verdict}. {summary.reason}"
    )
    blocks = [_section(facts), _section(_check_table(summary))]
    if summary.flow_run_url:
        blocks.append(
            _section(f"<{summary.flow_run_url}|Open the flow run in Prefect>")
        )
    return blocks


def _check_table(summary: StepSummary) -> str:
    control = summary.configs.get(summary.control, {})
    treatment = summary.configs.get(summary.treatment, {})
    lines = [f"check: {summary.control} | {summary.treatment} | threshold | result"]
    for check in summary.checks:
        name = check.get("name", "")
        label = _CHECK_LABELS.get(name, name)
        column, pattern = _CHECK_COLUMNS.get(name, ("", "{}"))
        lines.append(
            f"{label}: {_value(control.get(column), pattern)} | "
            f"{_value(treatment.get(column), pattern)} | "
            f"{_threshold(check)} | {_result(check)}"
        )
    return "```" + "\n".join(lines) + "```"


def _value(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def _threshold(check: dict[str, Any]) -> str:
    compared = check.get("compared_value")
    shown = "n/a" if compared is None else f"{compared:.4g}"
    return f"{shown} vs {check.get('threshold', 'n/a')}"


def _result(check: dict[str, Any]) -> str:
    passed = check.get("passed")
    word = {True: "pass", False: "FAIL", None: "n/a"}[passed]
    return word if check.get("gating", True) else f"{word} (observe only)"


def _header(text: str) -> dict[str, Any]:
    # Slack caps header text at 150 characters.
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _section(text: str) -> dict[str, Any]:
    # Slack caps section text at 3,000 characters.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _actions(stage_id: int) -> dict[str, Any]:
    value = str(stage_id)
    return {
        "type": "actions",
        "block_id": f"rollout_stage_{stage_id}",
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject and roll back"},
                "value": value,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Roll back?"},
                    "text": {
                        "type": "mrkdwn",
                        "text": "Rejecting returns every user to the control "
                        "config at once.",
                    },
                    "confirm": {"type": "plain_text", "text": "Reject"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            },
        ],
    }


def plain_text(blocks: list[dict[str, Any]]) -> str:
    """Return a message's fallback text for notifications: its header."""
    for block in blocks:
        if block.get("type") == "header":
            return str(block["text"]["text"])
    return "Rollout update"
