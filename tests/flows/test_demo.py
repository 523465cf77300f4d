"""The demo end to end on a small amount of traffic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.demo import DEMO_APPROVER, DemoOptions, run_demo

pytestmark = pytest.mark.prefect


class TestDemo:
    def test_demo_runs_every_step_and_writes_report(
        self, prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # A vendor timeout four times the demo's keeps a loaded CI machine from
        # turning slow turns of the event loop into vendor errors at the gate.
        options = DemoOptions(
            tmp_path / "demo", users=300, vendor_timeout_s=2.0, hang_s=2.5
        )
        report = run_demo(options)
        printed = capsys.readouterr().out
        data = json.loads((tmp_path / "demo" / "report.json").read_text())
        steps = [row["step"] for row in data["steps"]]
        assert "simulated day 1" in printed
        assert "shadow analysis: " in printed
        assert data["shadow_analysis"]["ab_pairs"] > 0
        assert data["shadow_analysis"]["verdict"] in {"go", "no-go", "sample too small"}
        assert Path(data["shadow_analysis"]["report_path"]).exists()
        assert "Before (standard) and after (optimized)" in printed
        assert steps[-1] == "100%"
        approvers = [row["approver"] for row in data["steps"] if row["approver"] != "-"]
        assert approvers
        assert set(approvers) == {DEMO_APPROVER}
        # The approver clicks again while a message still shows its buttons,
        # so a step may have more than one click, each on its own stage.
        assert len({click["stage_id"] for click in data["approvals"]}) == len(approvers)
        assert "messages show the decision" in printed
        assert list(report.summary["metric"])[:2] == [
            "staleness (days)",
            "contact accuracy",
        ]
        assert (tmp_path / "demo" / "report.md").read_text().startswith("# Waterfall")
