"""Tasks of the alert flows: check one rule, then apply its findings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from waterfall.alerts.checks import Finding
from waterfall.alerts.runner import alert_book, alert_config, evaluate
from waterfall.runtime import get_runtime

# Checks read live data and post messages, so no result may come from cache.


@task(name="check-alert-rule", cache_policy=NO_CACHE)
def check_alert_rule(rule: str) -> list[Finding]:
    """Measure one rule over the store and return a finding per judged subject."""
    runtime = get_runtime()
    return evaluate(runtime, rule, alert_config(runtime), runtime.clock.now())


@task(name="apply-alert-findings", cache_policy=NO_CACHE)
def apply_alert_findings(findings: list[Finding]) -> list[dict[str, Any]]:
    """Update the stored alert state and post alerts, summaries and recoveries."""
    runtime = get_runtime()
    book = alert_book(runtime, alert_config(runtime))
    outcomes = book.apply_all(findings, runtime.clock.now())
    return [asdict(outcome) for outcome in outcomes]
