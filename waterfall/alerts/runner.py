"""Run one alert rule's check over the store and apply it to the alert state."""

from __future__ import annotations

from datetime import datetime

from waterfall.alerts.checks import (
    Finding,
    check_cost,
    check_data_quality,
    check_latency,
    check_vendor_errors,
)
from waterfall.alerts.config import AlertConfig, load_alert_config
from waterfall.alerts.engine import AlertBook, Outcome
from waterfall.errors import ConfigError
from waterfall.runtime import Runtime

SCHEDULED_RULES = ("cost", "vendor_errors", "latency", "data_quality")


def alert_config(runtime: Runtime) -> AlertConfig:
    """Load config/alerts.yaml from the runtime's config folder."""
    return load_alert_config(runtime.settings.config_dir / "alerts.yaml")


def alert_book(runtime: Runtime, config: AlertConfig) -> AlertBook:
    """Build the alert state machine on the runtime's store and Slack notifier."""
    return AlertBook(
        runtime.store, runtime.slack(), config, runtime.settings.runbook_url
    )


def evaluate(
    runtime: Runtime, rule: str, config: AlertConfig, now: datetime
) -> list[Finding]:
    """Run one scheduled rule's check and return its findings."""
    rules = config.rules
    if rule == "cost":
        return check_cost(runtime.store, rules.cost, now)
    if rule == "vendor_errors":
        return check_vendor_errors(runtime.store, rules.vendor_errors, now)
    if rule == "latency":
        return check_latency(runtime.store, rules.latency, now)
    if rule == "data_quality":
        return check_data_quality(runtime.store, rules.data_quality, runtime.plan, now)
    raise ConfigError(
        f"alert rule {rule!r} has no scheduled check: use one of "
        f"{', '.join(SCHEDULED_RULES)} (the breaker rule runs on transitions)"
    )


def run_check(runtime: Runtime, rule: str) -> list[Outcome]:
    """Check one rule now and post what its alert state makes due."""
    config = alert_config(runtime)
    now = runtime.clock.now()
    findings = evaluate(runtime, rule, config, now)
    return alert_book(runtime, config).apply_all(findings, now)
