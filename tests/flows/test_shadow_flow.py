"""The shadow-analysis flow on Prefect for real, over simulated shadow traffic."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.shadow import shadow_analysis
from tests.conftest import START
from tests.flows.conftest import RolloutEnv
from waterfall.shadow import ShadowSwitch, set_shadow

pytestmark = pytest.mark.prefect


def shadow_on(env: RolloutEnv, share: float = 1.0, aa_share: float = 0.1) -> None:
    set_shadow(
        env.runtime.store,
        env.runtime.plan.rollout_name,
        ShadowSwitch(True, share, aa_share),
        "test",
        "shadow week",
        env.clock.now(),
    )


def analyse(env: RolloutEnv, tmp_path: Path) -> dict:
    env.loop.run_until_complete(env.stack.service.drain_shadows())
    env.stack.recorder.flush()
    env.runtime.settings.shadow_report_dir = tmp_path / "reports"
    return shadow_analysis(start=START, end=env.clock.now())


class TestShadowAnalysisFlow:
    def test_seeded_window_returns_go(
        self, rollout_env: RolloutEnv, tmp_path: Path
    ) -> None:
        shadow_on(rollout_env)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        result = analyse(rollout_env, tmp_path)
        html = Path(result["report_path"]).read_text()

        assert result["verdict"] == "go", result["failed"] or result["reason"]
        assert result["ab_pairs"] >= 300
        assert result["aa_pairs"] >= 30
        assert result["spend"]["shadow_calls_reused"] > 0
        assert result["spend"]["shadow_cost_saved"] > 0
        assert "<svg" in html
        assert "Recommendation: GO" in html

    def test_cognism_fault_returns_no_go_naming_checks(
        self, rollout_env: RolloutEnv, tmp_path: Path
    ) -> None:
        shadow_on(rollout_env)
        rollout_env.simulator.set_fault("Cognism", "server_error", rate=0.5)
        rollout_env.run_days(2)
        rollout_env.wait_for_feedback()
        result = analyse(rollout_env, tmp_path)
        failed = {item["name"]: item for item in result["failed"]}

        assert result["verdict"] == "no-go"
        assert "vendor_error_rate" in failed
        assert "Cognism" in failed["vendor_error_rate"]["detail"]
        assert "above the maximum 0.1" in failed["vendor_error_rate"]["detail"]
        assert "vendor_error_rate" in result["reason"]

    def test_few_searches_say_sample_too_small(
        self, rollout_env: RolloutEnv, tmp_path: Path
    ) -> None:
        shadow_on(rollout_env, share=0.1)
        rollout_env.run_days(1)
        rollout_env.wait_for_feedback()
        result = analyse(rollout_env, tmp_path)

        assert result["verdict"] == "sample too small"
        assert result["failed"] == []
        assert "at least 300 are needed" in result["reason"]

    def test_report_is_a_markdown_artifact(
        self, rollout_env: RolloutEnv, tmp_path: Path
    ) -> None:
        shadow_on(rollout_env, share=0.1)
        rollout_env.run_days(1)
        rollout_env.clock.advance(timedelta(hours=1))
        state = shadow_analysis(
            start=START, end=rollout_env.clock.now(), return_state=True
        )
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts()
        mine = [
            a for a in artifacts if a.flow_run_id == state.state_details.flow_run_id
        ]

        assert state.is_completed()
        assert [a.key for a in mine] == ["shadow-analysis"]
        assert mine[0].data.startswith("# Shadow analysis")
