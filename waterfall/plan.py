"""The rollout plan: steps, monitoring window and gate thresholds from YAML."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from waterfall.catalog import read_yaml
from waterfall.errors import ConfigError


class GateThreshold(BaseModel):
    """One gate metric's threshold; gating=False makes it observe-only."""

    model_config = {"extra": "allow"}

    gating: bool = True


class Targets(BaseModel):
    """Business targets shown beside the measured figures."""

    staleness_days_max: float
    accuracy_min: float
    first_hit_issue_rate_max: float
    cost_increase_max: float


class RolloutPlan(BaseModel):
    """Everything a rollout step needs to know besides the measurements."""

    rollout_name: str
    control_config: str = "standard"
    treatment_config: str = "optimized"
    steps: list[float]
    monitoring_window_days: float = Field(gt=0)
    window_extension_days: float = Field(ge=0)
    max_extensions: int = Field(ge=0)
    issue_staleness_days: float = Field(gt=0)
    min_searches_per_arm: int = Field(ge=1)
    min_feedback_searches_per_arm: int = Field(ge=0)
    confidence_level: float = Field(gt=0, lt=1)
    srm_p_value_min: float = Field(gt=0, lt=1)
    gates: dict[str, GateThreshold]
    targets: Targets

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, steps: list[float]) -> list[float]:
        if not steps or any(not 0 < step <= 100 for step in steps):
            raise ValueError(f"steps {steps} must be percentages in (0, 100]")
        if sorted(set(steps)) != steps:
            raise ValueError(f"steps {steps} must strictly increase")
        return steps

    def threshold(self, gate: str, key: str) -> float:
        """Return one numeric threshold of a gate, naming it when missing."""
        try:
            return float(getattr(self.gates[gate], key))
        except (KeyError, AttributeError) as exc:
            raise ConfigError(
                f"rollout plan: gate '{gate}' has no '{key}': add it under gates.{gate}"
            ) from exc

    def is_gating(self, gate: str) -> bool:
        """Return False for observe-only gate metrics."""
        entry = self.gates.get(gate)
        return True if entry is None else entry.gating

    def previous_step(self, step: float) -> float | None:
        """Return the step before this one, or None for the first."""
        if step not in self.steps:
            raise ConfigError(f"step {step}% is not in the plan's steps {self.steps}")
        index = self.steps.index(step)
        return None if index == 0 else self.steps[index - 1]


def load_plan(path: Path) -> RolloutPlan:
    """Load and validate config/rollout_plan.yaml."""
    try:
        return RolloutPlan.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path} is invalid:\n{exc}") from exc
