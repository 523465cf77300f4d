"""Fixtures for Slack: the Web API mock, a runtime wired to it, a waiting stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.conftest import SLACK_TOKEN as TOKEN
from waterfall import rollout as core
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.errors import StepNotWaitingError
from waterfall.rollout import StageView
from waterfall.runtime import Runtime
from waterfall.settings import Settings
from waterfall.slack.mock import MockSlackApi
from waterfall.slack.notifier import SlackNotifier
from waterfall.store import Store

SECRET = "signing-secret-for-tests"
APPROVER = "UALICE"

# A stored evaluation like the gate writes: both configs and three checks.
METRICS = {
    "configs": [
        {
            "config_name": "standard",
            "searches": 900,
            "staleness_mean_days": 107.3,
            "accuracy": 0.80,
            "first_hit_issue_rate": 0.315,
            "cost_per_search": 0.624,
            "latency_p95_ms": 924.0,
        },
        {
            "config_name": "optimized",
            "searches": 100,
            "staleness_mean_days": 39.9,
            "accuracy": 0.885,
            "first_hit_issue_rate": 0.166,
            "cost_per_search": 0.650,
            "latency_p95_ms": 440.0,
        },
    ]
}
GATE = {
    "verdict": "pass",
    "reason": "every gating check passed",
    "checks": [
        {
            "name": "staleness",
            "compared_value": -61.2,
            "threshold": 0,
            "passed": True,
            "gating": True,
        },
        {
            "name": "accuracy",
            "compared_value": 0.052,
            "threshold": -0.02,
            "passed": True,
            "gating": True,
        },
        {
            "name": "first_hit_issue_rate",
            "compared_value": 0.21,
            "threshold": 0,
            "passed": False,
            "gating": False,
        },
    ],
}


def notifier_for(api: MockSlackApi, channel: str = "#rollout") -> SlackNotifier:
    """A notifier using the real slack_sdk client against the mock."""
    return SlackNotifier(WebClient(token=TOKEN, base_url=api.api_url), channel)


@pytest.fixture
def runtime(sqlite_store: Store, clock: SimulatedClock, slack: MockSlackApi) -> Runtime:
    """A runtime on a fresh store whose notifier posts to the mock."""
    settings = Settings(database_url=sqlite_store.url, slack_approvers=[APPROVER])
    built = Runtime.from_settings(settings, clock)
    built.store = sqlite_store
    built.notifier = notifier_for(slack)
    init_store(sqlite_store, settings.config_dir, clock.now())
    return built


def waiting_stage(runtime: Runtime, flow_run_id: str = "run-1") -> StageView:
    """A 10 % stage whose gate passed and which waits for a decision."""
    now = runtime.clock.now()
    stage = core.begin_step(runtime.store, runtime.plan, 10, now, "test", False)
    core.record_evaluation(
        runtime.store, stage.id, METRICS, GATE, "pass", "awaiting_approval", now
    )
    return core.await_decision(runtime.store, stage.id, flow_run_id)


@dataclass
class FakeResume:
    """Fake of resuming a Prefect run: records the run input, one per run."""

    answers: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    not_waiting: set[str] = field(default_factory=set)

    def __call__(self, flow_run_id: str, answer: dict[str, Any], key: str) -> None:
        if flow_run_id in self.not_waiting:
            raise StepNotWaitingError(flow_run_id, "completed")
        self.answers.append((flow_run_id, answer))
        self.not_waiting.add(flow_run_id)
