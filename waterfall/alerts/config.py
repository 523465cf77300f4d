"""The alert rules of config/alerts.yaml, validated on load."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from waterfall.catalog import read_yaml
from waterfall.errors import ConfigError

Severity = Literal["warning", "critical"]
RULE_NAMES = ("cost", "vendor_errors", "latency", "data_quality", "breaker")

# Field name -> how to fix a bad value, for the load error.
_FIXES = {
    "severity": "use 'warning' or 'critical'",
    "channel": "name a Slack channel, e.g. '#waterfall-alerts', or a channel id",
    "cron": "write five cron fields in UTC, e.g. '*/5 * * * *'",
    "on_call": "write a Slack mention, e.g. '<!subteam^S123>' or '<@U123>'",
    "max_error_rate": "give a fraction between 0 and 1, e.g. 0.10",
    "min_accuracy": "give a fraction between 0 and 1, e.g. 0.75",
    "max_increase": "give a fraction above 0, e.g. 0.20 for 20 %",
    "max_ratio_to_forecast": "give a ratio above 0, e.g. 1.5 for 150 %",
    "daily_forecast_usd": "give the forecast daily vendor spend in USD, above 0",
}


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity
    channel: str = Field(min_length=1)

    @field_validator("channel")
    @classmethod
    def _channel_is_a_name_or_id(cls, channel: str) -> str:
        if channel.startswith("#") or channel[:1] in ("C", "G"):
            return channel
        raise ValueError("is neither a '#name' nor a channel id")


class _ScheduledRule(_Rule):
    cron: str

    @field_validator("cron")
    @classmethod
    def _five_cron_fields(cls, cron: str) -> str:
        if len(cron.split()) != 5:
            raise ValueError(f"has {len(cron.split())} fields, not 5")
        return cron


class CostRule(_ScheduledRule):
    """Vendor spend over a rolling window against the daily forecast."""

    window_hours: float = Field(gt=0, le=24 * 7)
    daily_forecast_usd: float = Field(gt=0)
    max_ratio_to_forecast: float = Field(gt=0)


class VendorErrorRule(_ScheduledRule):
    """Each vendor's share of failed calls."""

    window_minutes: float = Field(gt=0)
    max_error_rate: float = Field(ge=0, le=1)
    min_calls: int = Field(ge=1)


class LatencyRule(_ScheduledRule):
    """Each config's p95 search latency against its own recent past."""

    window_minutes: float = Field(gt=0)
    baseline_days: float = Field(gt=0)
    max_increase: float = Field(gt=0)
    min_searches: int = Field(ge=1)


class DataQualityRule(_ScheduledRule):
    """Each config's contact accuracy from arrived feedback."""

    window_days: float = Field(gt=0)
    min_accuracy: float = Field(ge=0, le=1)
    min_feedback_points: int = Field(ge=1)


class BreakerRule(_Rule):
    """A breaker opening for the first vendor of a config that serves traffic."""


class Rules(BaseModel):
    """One entry per alert rule; every rule must be present."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost: CostRule
    vendor_errors: VendorErrorRule
    latency: LatencyRule
    data_quality: DataQualityRule
    breaker: BreakerRule


class AlertConfig(BaseModel):
    """Everything config/alerts.yaml sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_call: str = Field(min_length=1)
    summary_interval_minutes: float = Field(gt=0)
    rules: Rules

    @field_validator("on_call")
    @classmethod
    def _is_a_mention(cls, on_call: str) -> str:
        if on_call.startswith("<") and on_call.endswith(">"):
            return on_call
        raise ValueError("is not a Slack mention in angle brackets")

    def rule(self, name: str) -> _Rule:
        """Return one rule's settings by name."""
        if name not in RULE_NAMES:
            raise ConfigError(
                f"alert rule {name!r} not found: use one of {', '.join(RULE_NAMES)}"
            )
        rule: _Rule = getattr(self.rules, name)
        return rule


def load_alert_config(path: Path) -> AlertConfig:
    """Load and validate the alert rules; the error lists every bad field."""
    data = read_yaml(path)
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_problem(error)}" for error in exc.errors())
        raise ConfigError(
            f"{path} has {exc.error_count()} problem(s):\n{problems}"
        ) from exc


def _problem(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"])
    field = str(error["loc"][-1]) if error["loc"] else ""
    if error["type"] == "missing":
        return f"{location} is missing: add it"
    if error["type"] == "extra_forbidden":
        return f"{location} is not a known field: remove it or check its spelling"
    fix = _FIXES.get(field, "correct the value")
    return f"{location}={error['input']!r} is invalid: {error['msg']}. Fix: {fix}"
