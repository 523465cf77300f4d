"""`waterfall alerts test`: every alert once, against artificial thresholds.

Each scheduled check runs on the store with thresholds that any measurement
crosses, so the message carries real figures where there is data. A rule
with no data, and the breaker rule, which fires only on a transition, get an
example finding instead. Test alerts go straight to Slack, marked as tests,
and never touch the stored alert state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from waterfall.alerts import messages
from waterfall.alerts.breaker_alert import serving_configs
from waterfall.alerts.checks import ALL, Finding, describe_window
from waterfall.alerts.config import RULE_NAMES, AlertConfig
from waterfall.alerts.runner import evaluate
from waterfall.runtime import Runtime
from waterfall.store import alert_repository as alert_repo


@dataclass(frozen=True)
class DrillResult:
    """One test alert: its rule, whether it used store data, and if it was posted."""

    rule: str
    from_store: bool
    posted: bool


def artificial(config: AlertConfig) -> AlertConfig:
    """Return the config with thresholds that any measurement crosses."""
    rules = config.rules
    # model_copy skips validation, which would reject these thresholds.
    changed = rules.model_copy(
        update={
            "cost": rules.cost.model_copy(update={"max_ratio_to_forecast": -1.0}),
            "vendor_errors": rules.vendor_errors.model_copy(
                update={"max_error_rate": -1.0, "min_calls": 1}
            ),
            "latency": rules.latency.model_copy(
                update={"max_increase": -1.0, "min_searches": 1}
            ),
            "data_quality": rules.data_quality.model_copy(
                update={"min_accuracy": 2.0, "min_feedback_points": 1}
            ),
        }
    )
    return config.model_copy(update={"rules": changed})


def fire_test_alerts(runtime: Runtime, config: AlertConfig) -> list[DrillResult]:
    """Post one test alert per rule to the rule's channel and return what was sent."""
    now = runtime.clock.now()
    forced = artificial(config)
    notifier = runtime.slack()
    results = []
    for rule in RULE_NAMES:
        firing = []
        if rule != "breaker":
            findings = evaluate(runtime, rule, forced, now)
            firing = [finding for finding in findings if finding.firing]
        finding = firing[0] if firing else _example(runtime, rule, now)
        settings = config.rule(rule)
        blocks = messages.alert_blocks(
            finding,
            settings.severity,
            config.on_call,
            runtime.settings.runbook_url,
            test=True,
        )
        posted = notifier.post(blocks, settings.channel) is not None
        results.append(DrillResult(rule, bool(firing), posted))
    return results


def _example(runtime: Runtime, rule: str, now: datetime) -> Finding:
    configs = serving_configs(runtime)
    with runtime.store.session() as session:
        first = alert_repo.first_vendors(session, configs)
    vendor = next(iter(first.values()), "Vendor_X")
    examples = {
        "cost": (ALL, "1,200.00 USD, 171% of the 700.00 USD forecast", "150%"),
        "vendor_errors": (vendor, "14.0% (14 of 100 calls failed)", "10%"),
        "latency": (configs[0], "p95 1300 ms, +30% against 1000 ms", "+20%"),
        "data_quality": (configs[0], "70.0% of 200 contacts were valid", "75%"),
        "breaker": (vendor, "CLOSED -> OPEN, error rate 8.0% over 100 calls", ""),
    }
    subject, measured, limit = examples[rule]
    return Finding(
        rule=rule,
        subject=subject,
        firing=True,
        value=0.0,
        threshold=0.0,
        measured=f"{measured} (example values: the store had no data)",
        limit=limit or "breaker must stay closed at position 1",
        window=describe_window(now, now),
        configs=tuple(configs),
        vendors=(vendor,) if rule != "cost" else tuple(first.values()),
    )
