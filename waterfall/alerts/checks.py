"""One check per alert rule: measure the store and decide, per subject, if it fires.

A check returns a Finding for each subject (a vendor, a config, or "all")
that had enough data to judge. A subject left out is unknown: its alert state
stays as it is, so a quiet hour neither raises nor clears an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from waterfall.alerts.config import (
    CostRule,
    DataQualityRule,
    LatencyRule,
    VendorErrorRule,
)
from waterfall.metrics import config_metrics, load_window, vendor_error_rates
from waterfall.plan import RolloutPlan
from waterfall.store import Store
from waterfall.store import alert_repository as alert_repo

ALL = "all"


@dataclass(frozen=True)
class Finding:
    """The judgement of one rule on one subject at one check."""

    rule: str
    subject: str
    firing: bool
    value: float
    threshold: float
    measured: str  # the value as the message shows it, with its unit
    limit: str  # the threshold as the message shows it
    window: str
    configs: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """The de-duplication key: rule and subject."""
        return f"{self.rule}:{self.subject}"


def describe_window(start: datetime, end: datetime) -> str:
    """Format a window as the messages show it."""
    hours = (end - start).total_seconds() / 3600
    length = f"{hours * 60:.0f} min" if hours < 2 else f"{hours:.0f} h"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC ({length})"


def check_cost(store: Store, rule: CostRule, now: datetime) -> list[Finding]:
    """Compare vendor spend, shadow included, with the forecast for the window.

    Shadow calls count because vendors bill them like any other call.
    """
    start = now - timedelta(hours=rule.window_hours)
    window = load_window(store, start, now, as_of=now, include_shadow=True)
    calls = window.calls
    spend = float(calls["cost"].sum())
    forecast = rule.daily_forecast_usd * rule.window_hours / 24
    ratio = spend / forecast
    by_vendor = calls.groupby("vendor")["cost"].sum().sort_values(ascending=False)
    vendors = tuple(str(v) for v, cost in by_vendor.items() if cost > 0)
    configs = tuple(sorted(set(calls.loc[calls["cost"] > 0, "config_name"])))
    return [
        Finding(
            rule="cost",
            subject=ALL,
            firing=ratio > rule.max_ratio_to_forecast,
            value=ratio,
            threshold=rule.max_ratio_to_forecast,
            measured=f"{spend:,.2f} USD, {ratio:.0%} of the {forecast:,.2f} USD "
            "forecast",
            limit=f"{rule.max_ratio_to_forecast:.0%} of forecast",
            window=describe_window(start, now),
            configs=configs,
            vendors=vendors,
            details={
                "spend_usd": round(spend, 4),
                "forecast_usd": forecast,
                "spend_by_vendor_usd": {
                    str(v): round(float(c), 4) for v, c in by_vendor.items()
                },
            },
        )
    ]


def check_vendor_errors(
    store: Store, rule: VendorErrorRule, now: datetime
) -> list[Finding]:
    """Judge each vendor with at least min_calls calls, shadow calls included."""
    start = now - timedelta(minutes=rule.window_minutes)
    window = load_window(store, start, now, as_of=now, include_shadow=True)
    rates = vendor_error_rates(window)
    calls = window.calls
    findings = []
    for vendor, row in rates.iterrows():
        if row["calls"] < rule.min_calls:
            continue
        rate = float(row["error_rate"])
        of_vendor = calls[calls["vendor"] == vendor]
        findings.append(
            Finding(
                rule="vendor_errors",
                subject=str(vendor),
                firing=rate > rule.max_error_rate,
                value=rate,
                threshold=rule.max_error_rate,
                measured=f"{rate:.1%} ({int(row['errors'])} of {int(row['calls'])} "
                "calls failed)",
                limit=f"{rule.max_error_rate:.0%}",
                window=describe_window(start, now),
                configs=tuple(sorted(set(of_vendor["config_name"]))),
                vendors=(str(vendor),),
                details={"calls": int(row["calls"]), "errors": int(row["errors"])},
            )
        )
    return findings


def check_latency(store: Store, rule: LatencyRule, now: datetime) -> list[Finding]:
    """Compare each config's p95 over the window with its p95 over the baseline.

    The baseline is the baseline_days before the window, so a slow hour is
    judged against the config's own recent normal, not a fixed number.
    """
    start = now - timedelta(minutes=rule.window_minutes)
    baseline_start = start - timedelta(days=rule.baseline_days)
    with store.session() as session:
        recent = _by_config(alert_repo.execution_latencies(session, start, now))
        past = _by_config(
            alert_repo.execution_latencies(session, baseline_start, start)
        )
    findings = []
    for config in sorted(recent):
        latencies, baseline = recent[config], past.get(config, [])
        if min(len(latencies), len(baseline)) < rule.min_searches:
            continue
        p95 = float(np.percentile(latencies, 95))
        baseline_p95 = float(np.percentile(baseline, 95))
        increase = p95 / baseline_p95 - 1 if baseline_p95 > 0 else 0.0
        findings.append(
            Finding(
                rule="latency",
                subject=config,
                firing=increase > rule.max_increase,
                value=increase,
                threshold=rule.max_increase,
                measured=f"p95 {p95:.0f} ms, {increase:+.0%} against the baseline "
                f"p95 {baseline_p95:.0f} ms",
                limit=f"+{rule.max_increase:.0%} over baseline",
                window=describe_window(start, now),
                configs=(config,),
                details={
                    "p95_ms": p95,
                    "baseline_p95_ms": baseline_p95,
                    "searches": len(latencies),
                    "baseline_searches": len(baseline),
                    "baseline": describe_window(baseline_start, start),
                },
            )
        )
    return findings


def _by_config(rows: list[tuple[str, float]]) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = {}
    for config, latency in rows:
        grouped.setdefault(config, []).append(latency)
    return grouped


def check_data_quality(
    store: Store, rule: DataQualityRule, plan: RolloutPlan, now: datetime
) -> list[Finding]:
    """Judge each config's contact accuracy from the feedback that has arrived."""
    start = now - timedelta(days=rule.window_days)
    window = load_window(store, start, now, as_of=now)
    metrics = config_metrics(window, plan)
    findings = []
    for config, row in metrics.iterrows():
        points = int(row["feedback_points"])
        if points < rule.min_feedback_points:
            continue
        accuracy = float(row["accuracy"])
        findings.append(
            Finding(
                rule="data_quality",
                subject=str(config),
                firing=accuracy < rule.min_accuracy,
                value=accuracy,
                threshold=rule.min_accuracy,
                measured=f"{accuracy:.1%} of {points} emails and phones with "
                "feedback were valid",
                limit=f"at least {rule.min_accuracy:.0%}",
                window=describe_window(start, now),
                configs=(str(config),),
                details={"feedback_points": points},
            )
        )
    return findings
