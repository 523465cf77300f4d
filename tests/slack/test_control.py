"""Resuming a step run through Prefect's API: the races around a pause."""

from __future__ import annotations

import uuid

import pytest

from tasks import control
from waterfall.errors import StepNotWaitingError

RUN_ID = str(uuid.uuid4())
ANSWER = {"decision": "approve", "approver": "pm", "comment": ""}


class FlakyResume:
    """Refuses the first attempts the way Prefect's server does, then accepts."""

    def __init__(self, refusals: int, message: str) -> None:
        self.refusals = refusals
        self.message = message
        self.calls = 0

    def __call__(self, run_id: uuid.UUID, run_input: dict[str, str]) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise RuntimeError(self.message)


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "PAUSE_POLL_S", 0.0)


def test_resume_before_schema_saved_is_retried(monkeypatch) -> None:
    resume = FlakyResume(2, "Cannot resume this run: Run input schema not found.")
    monkeypatch.setattr(control, "resume_flow_run", resume)
    control.resume_step(RUN_ID, ANSWER, "approval-stage-1")
    assert resume.calls == 3


def test_other_refusal_is_not_retried(monkeypatch) -> None:
    resume = FlakyResume(5, "Cannot resume this run: Run input invalid.")
    monkeypatch.setattr(control, "resume_flow_run", resume)
    with pytest.raises(StepNotWaitingError, match="refusing input"):
        control.resume_step(RUN_ID, ANSWER, "approval-stage-1")
    assert resume.calls == 1


def test_schema_that_never_appears_gives_up(monkeypatch) -> None:
    resume = FlakyResume(10**6, "Cannot resume this run: Run input schema not found.")
    monkeypatch.setattr(control, "resume_flow_run", resume)
    monkeypatch.setattr(control, "PAUSE_SETTLE_S", 0.0)
    with pytest.raises(StepNotWaitingError):
        control.resume_step(RUN_ID, ANSWER, "approval-stage-1")
