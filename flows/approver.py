"""An automatic approver for the demo and tests: it decides every paused step.

It exists so that `make demo` can run unattended. Its name is written into
every stage it decides, so its decision is never mistaken for a person's.
"""

from __future__ import annotations

import threading
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import NotPausedError
from prefect.flow_runs import resume_flow_run

from waterfall.logging import get_logger

log = get_logger("demo_approver")

_PAUSED = FlowRunFilter(
    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
)


class DemoApprover:
    """Background thread that resumes paused flow runs with an approval."""

    def __init__(
        self, name: str, decision: str = "approve", poll_interval_s: float = 0.3
    ) -> None:
        self.name = name
        self.decision = decision
        self.approvals: list[dict[str, Any]] = []
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="demo-approver", daemon=True
        )

    def start(self) -> None:
        """Start watching for paused runs."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with get_client(sync_client=True) as client:
            while not self._stop.wait(self._poll_interval_s):
                for flow_run in client.read_flow_runs(flow_run_filter=_PAUSED):
                    self._approve(flow_run.id, flow_run.name)

    def _approve(self, flow_run_id: Any, flow_run_name: str) -> None:
        answer = {
            "decision": self.decision,
            "approver": self.name,
            "comment": f"{self.decision}: answered automatically, not by a person",
        }
        try:
            resume_flow_run(flow_run_id, run_input=answer)
        except NotPausedError:
            return
        self.approvals.append(
            {"flow_run_id": str(flow_run_id), "flow_run": flow_run_name}
        )
        log.info(
            "approver.step_answered",
            flow_run_id=str(flow_run_id),
            approver=self.name,
            decision=self.decision,
        )
