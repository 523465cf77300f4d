"""Deployment definitions: names, schedules and parameters."""

from __future__ import annotations

from pathlib import Path

import yaml

from deployments.serve import (
    ROLLOUT_EVALUATION_CRON,
    SHADOW_ANALYSIS_CRON,
    build_deployments,
)


class TestDeployments:
    def test_serve_builds_every_deployment(self) -> None:
        names = {(d.flow_name, d.name) for d in build_deployments()}
        assert names == {
            ("rollout-step", "hourly"),
            ("rollout-step", "manual"),
            ("rollout", "manual"),
            ("rollback", "manual"),
            ("shadow-analysis", "weekly"),
            ("alert-cost", "scheduled"),
            ("alert-vendor-errors", "scheduled"),
            ("alert-latency", "scheduled"),
            ("alert-data-quality", "scheduled"),
        }

    def test_shadow_analysis_runs_weekly(self) -> None:
        weekly = next(d for d in build_deployments() if d.name == "weekly")
        assert weekly.schedules[0].schedule.cron == SHADOW_ANALYSIS_CRON
        assert weekly.parameters == {"days": 7.0}

    def test_rollout_runs_hourly(self) -> None:
        hourly = next(d for d in build_deployments() if d.name == "hourly")
        assert hourly.schedules[0].schedule.cron == ROLLOUT_EVALUATION_CRON
        assert hourly.parameters["step"] is None

    def test_work_pool_file_matches_serve(self) -> None:
        data = yaml.safe_load(Path("prefect.yaml").read_text())
        entries = {
            (d["entrypoint"].split(":")[1], d["name"]) for d in data["deployments"]
        }
        assert entries == {
            ("rollout_step", "hourly"),
            ("rollout_step", "manual"),
            ("rollout", "manual"),
            ("rollback", "manual"),
            ("shadow_analysis", "weekly"),
            ("alert_cost", "scheduled"),
            ("alert_vendor_errors", "scheduled"),
            ("alert_latency", "scheduled"),
            ("alert_data_quality", "scheduled"),
        }
