"""Alert flows: one per scheduled rule of config/alerts.yaml.

Each run checks the store once and returns what every finding did (sent,
summarised, repeated, recovered, suppressed or clear). The breaker alert has
no flow: the breaker's transition listener sends it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.alerts import apply_alert_findings, check_alert_rule


@flow(name="alert-cost")
def alert_cost() -> list[dict[str, Any]]:
    """Alert when vendor spend passes its share of the daily forecast."""
    findings = check_alert_rule("cost")
    return apply_alert_findings(findings)


@flow(name="alert-vendor-errors")
def alert_vendor_errors() -> list[dict[str, Any]]:
    """Alert, paging on-call, when a vendor's error rate passes the threshold."""
    findings = check_alert_rule("vendor_errors")
    return apply_alert_findings(findings)


@flow(name="alert-latency")
def alert_latency() -> list[dict[str, Any]]:
    """Alert when a config's p95 latency rises above its baseline."""
    findings = check_alert_rule("latency")
    return apply_alert_findings(findings)


@flow(name="alert-data-quality")
def alert_data_quality() -> list[dict[str, Any]]:
    """Alert when a config's contact accuracy falls under the threshold."""
    findings = check_alert_rule("data_quality")
    return apply_alert_findings(findings)


# Rule name in config/alerts.yaml -> its flow.
ALERT_FLOWS = {
    "cost": alert_cost,
    "vendor_errors": alert_vendor_errors,
    "latency": alert_latency,
    "data_quality": alert_data_quality,
}
