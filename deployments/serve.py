"""Serve every flow of the project with its schedule from one process.

Run `python -m deployments.serve` next to a Prefect server (PREFECT_API_URL
set). `rollout-step/hourly` runs every hour: each run starts the next step,
or judges the current one once its monitoring window has passed, and
otherwise returns at once, so no run keeps a worker for a window. Waiting
for approval it suspends, which also frees the worker. `shadow-analysis/weekly`
judges the last week of shadow traffic every Monday. Each alert flow runs on
the cron of its rule in config/alerts.yaml. The other deployments have no
schedule; people trigger them from the Prefect UI.
"""

from __future__ import annotations

from typing import Any

from prefect import serve

from flows.alerts import ALERT_FLOWS
from flows.rollout import rollback, rollout, rollout_step
from flows.shadow import shadow_analysis
from waterfall.alerts.config import AlertConfig, load_alert_config
from waterfall.settings import Settings

ROLLOUT_EVALUATION_CRON = "0 * * * *"  # hourly: windows last days, an hour late is fine
# Mondays 06:00 UTC: a week of shadow traffic, judged before the working week.
SHADOW_ANALYSIS_CRON = "0 6 * * 1"


def build_deployments(alerts: AlertConfig | None = None) -> list[Any]:
    """Return the deployments with their schedules and default parameters."""
    alerts = alerts or load_alert_config(Settings().config_dir / "alerts.yaml")
    return [*_rollout_deployments(), *_alert_deployments(alerts)]


def _alert_deployments(alerts: AlertConfig) -> list[Any]:
    deployments = []
    for rule, alert_flow in ALERT_FLOWS.items():
        settings = alerts.rules.model_dump()[rule]
        deployments.append(
            alert_flow.to_deployment(
                name="scheduled",
                cron=settings["cron"],
                description=f"Check the {rule} alert rule of config/alerts.yaml.",
                tags=["alerts"],
            )
        )
    return deployments


def _rollout_deployments() -> list[Any]:
    return [
        rollout_step.to_deployment(
            name="hourly",
            cron=ROLLOUT_EVALUATION_CRON,
            parameters={"step": None, "force": False, "actor": "prefect schedule"},
            description="Start the next step, or judge its finished window.",
            tags=["rollout"],
        ),
        rollout_step.to_deployment(
            name="manual",
            parameters={"step": 10.0, "force": False, "actor": "prefect ui"},
            description="Run one step; force=true skips the previous-step check.",
            tags=["rollout"],
        ),
        rollout.to_deployment(
            name="manual",
            parameters={"force": False, "actor": "prefect ui"},
            description="Run the plan's steps in order until one is not approved.",
            tags=["rollout"],
        ),
        rollback.to_deployment(
            name="manual",
            parameters={"reason": "", "actor": "prefect ui"},
            description="Send every subject back to the control config now.",
            tags=["rollout", "rollback"],
        ),
        shadow_analysis.to_deployment(
            name="weekly",
            cron=SHADOW_ANALYSIS_CRON,
            parameters={"days": 7.0},
            description="Judge the last week of shadow traffic: go or no-go.",
            tags=["shadow"],
        ),
    ]


def main() -> None:
    """Serve the deployments until interrupted."""
    serve(*build_deployments())


if __name__ == "__main__":
    main()
