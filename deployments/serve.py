"""Serve every flow of the project with its schedule from one process.

Run `python -m deployments.serve` next to a Prefect server (PREFECT_API_URL
set). The `rollout` deployment runs hourly: each run judges the current
step once its monitoring window has passed and otherwise returns at once,
so no run holds a worker for a window. `rollout-step` and `rollback` have no
schedule; people trigger them from the Prefect UI with their parameters.
"""

from __future__ import annotations

from typing import Any

from prefect import serve

from flows.rollout import rollback, rollout, rollout_step

ROLLOUT_EVALUATION_CRON = "0 * * * *"  # hourly: windows last days, an hour late is fine


def build_deployments() -> list[Any]:
    """Return the deployments with their schedules and default parameters."""
    return [
        rollout.to_deployment(
            name="hourly",
            cron=ROLLOUT_EVALUATION_CRON,
            parameters={"force": False, "actor": "prefect schedule"},
            description="Judge finished step windows and start the next step.",
            tags=["rollout"],
        ),
        rollout_step.to_deployment(
            name="manual",
            parameters={"step": 10.0, "force": False, "actor": "prefect ui"},
            description="Run one step; force=true skips the previous-step check.",
            tags=["rollout"],
        ),
        rollback.to_deployment(
            name="manual",
            parameters={"reason": "", "actor": "prefect ui"},
            description="Send every subject back to the control config now.",
            tags=["rollout", "rollback"],
        ),
    ]


def main() -> None:
    """Serve the deployments until interrupted."""
    serve(*build_deployments())


if __name__ == "__main__":
    main()
