"""The project's exception tree.

WaterfallError
├── ConfigError                 a config file or waterfall definition is invalid
│   └── ConfigValidationError   carries every ConfigProblem found at once
├── InvalidRequestError         a search or command argument is invalid
├── NotFoundError               a named vendor, config or stage does not exist
├── RolloutError                a rollout change is not allowed
│   ├── StepOrderError          a step started before the previous one completed
│   └── StepNotWaitingError     a decision arrived for a step no run waits on
├── StoreError                  the store could not be reached or migrated
└── BreakerStoreError           the breaker's Redis could not be reached or updated

Vendor faults are not exceptions: adapters return a VendorResponse whose
outcome names the fault, because the waterfall falls through on them.
"""

from __future__ import annotations

from dataclasses import dataclass


class WaterfallError(Exception):
    """Root of every error the project raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a waterfall config: where it is and how to fix it."""

    config_name: str
    field: str
    value: object
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"config '{self.config_name}': {self.field}={self.value!r}"
        return f"{where}: {self.message}. Fix: {self.fix}"


class ConfigError(WaterfallError):
    """A configuration file or value is invalid."""


class ConfigValidationError(ConfigError):
    """A waterfall config failed validation; `problems` lists every finding."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in waterfall config:\n{lines}")


class InvalidRequestError(WaterfallError):
    """A search or command argument is invalid; the message names it and the fix."""


class NotFoundError(WaterfallError):
    """A named object does not exist in the store."""

    def __init__(self, kind: str, name: str, hint: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} '{name}' not found: {hint}")


class RolloutError(WaterfallError):
    """A rollout change is not allowed in the current state."""


class StepOrderError(RolloutError):
    """A rollout step started before the previous step completed."""

    def __init__(self, step: int, previous: int, previous_status: str | None) -> None:
        self.step = step
        self.previous = previous
        self.previous_status = previous_status
        state = previous_status or "never run"
        super().__init__(
            f"step {step}% cannot start: the previous step {previous}% is {state}; "
            f"complete it first or pass force=True to override"
        )


class StepNotWaitingError(RolloutError):
    """A decision arrived for a step whose flow run no longer waits for one."""

    def __init__(self, flow_run_id: str, state: str) -> None:
        self.flow_run_id = flow_run_id
        self.state = state
        super().__init__(
            f"flow run {flow_run_id} is {state}, not waiting for a decision: "
            "run the rollout-step deployment again to ask anew"
        )


class StoreError(WaterfallError):
    """The store could not be reached or is not migrated."""


class BreakerStoreError(WaterfallError):
    """The circuit breaker's Redis store could not be reached or updated."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"the breaker store at WATERFALL_REDIS_URL={url} failed: {detail}. "
            "Check that Redis runs there, or unset WATERFALL_REDIS_URL to keep "
            "breaker state in-process"
        )
