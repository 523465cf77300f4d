"""Block Kit messages: the content of approval, failure and decision messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.slack.conftest import GATE, METRICS
from waterfall.slack import messages

EVALUATION = {"verdict": "pass", "gate": GATE, "metrics": METRICS}


def summary() -> messages.StepSummary:
    return messages.StepSummary.build(
        7, 10.0, EVALUATION, "standard", "optimized", "http://ui/runs/flow-run/abc"
    )


def text_of(blocks: list[dict]) -> str:
    return json.dumps(blocks)


class TestApprovalRequest:
    def test_has_approve_and_reject_buttons_carrying_the_stage(self) -> None:
        actions = [
            b for b in messages.approval_request(summary()) if b["type"] == "actions"
        ]
        buttons = actions[0]["elements"]
        assert [b["action_id"] for b in buttons] == [
            messages.APPROVE_ACTION,
            messages.REJECT_ACTION,
        ]
        assert {b["value"] for b in buttons} == {"7"}

    def test_shows_both_configs_beside_each_threshold(self) -> None:
        text = text_of(messages.approval_request(summary()))
        assert "Staleness: 107.3 d | 39.9 d | -61.2 vs 0 | pass" in text
        assert "Contact accuracy: 80.0% | 88.5% | 0.052 vs -0.02 | pass" in text
        assert "FAIL (observe only)" in text

    def test_observed_split_comes_from_the_split_check(self) -> None:
        check = {"name": "sample_ratio", "observed": 0.104, "threshold": 0.001}
        gate = {**GATE, "checks": [*GATE["checks"], check]}
        built = messages.StepSummary.build(
            7, 10.0, {**EVALUATION, "gate": gate}, "standard", "optimized", None
        )
        assert built.observed_split == pytest.approx(10.4)

    def test_shows_target_and_observed_split_and_run_link(self) -> None:
        text = text_of(messages.approval_request(summary()))
        assert "*Target split:* 10% on `optimized`" in text
        assert "*Observed:* 10.0%" in text
        assert "<http://ui/runs/flow-run/abc|Open the flow run in Prefect>" in text

    def test_inconclusive_gate_says_so_in_the_title(self) -> None:
        evaluation = {**EVALUATION, "verdict": "inconclusive"}
        built = messages.StepSummary.build(
            7, 10.0, evaluation, "standard", "optimized", None
        )
        title = messages.plain_text(messages.approval_request(built))
        assert "still inconclusive" in title


class TestOtherMessages:
    def test_gate_failure_has_no_buttons(self) -> None:
        blocks = messages.gate_failure(summary(), "gate failed at 10%: accuracy")
        assert all(b["type"] != "actions" for b in blocks)
        assert "Automatic rollback: gate failed at 10%: accuracy" in text_of(blocks)

    def test_decision_replaces_buttons_with_who_and_when(self) -> None:
        when = datetime(2026, 9, 4, 10, 30, tzinfo=UTC)
        blocks = messages.decided(summary(), "approved", "alice (Slack U1)", when)
        assert all(b["type"] != "actions" for b in blocks)
        assert "*Approved* by alice (Slack U1) at 2026-09-04 10:30 UTC" in text_of(
            blocks
        )

    def test_fallback_text_is_the_header(self) -> None:
        blocks = messages.approval_request(summary())
        assert messages.plain_text(blocks).startswith("Rollout step 10% passed")
