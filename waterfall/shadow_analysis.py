"""Compare the two configs on the paired executions of a shadow-traffic window.

Every shadowed search left two executions with one search id: the primary
and its shadow. A/B pairs ran the two configs; A/A pairs ran the same config
twice, which measures how much vendors alone move each figure. Each
comparison is treatment minus control on the same searches, with a paired
confidence interval and, when A/A pairs exist, the noise band they show.

Shadow results are never shown to a user, so no bounce or invalid-phone
feedback arrives for them. Accuracy and first-hit issue rate are therefore
estimates: each returned profile is scored with its vendor's rate measured
on the window's primary searches with feedback. That assumes a vendor's
records are as good whichever position asked for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from waterfall import shadow_breakdown as breakdown
from waterfall.metrics import (
    POSITIVE_STATUSES,
    Window,
    load_window,
    profile_issues,
)
from waterfall.plan import RolloutPlan
from waterfall.shadow import SHADOW_FAILED, SHADOW_TIMEOUT
from waterfall.stats import (
    Interval,
    paired_difference_ci,
    paired_quantile_difference_ci,
)
from waterfall.store import Store

SECONDS_PER_DAY = 86_400.0
# Per-execution values compared pair by pair, with their labels and units.
PAIRED_METRICS = {
    "hit_rate": ("searches that returned a profile", "share"),
    "staleness": ("mean staleness of returned profiles", "days"),
    "accuracy": ("contact accuracy (estimated)", "share"),
    "first_hit_issue_rate": ("first-hit issue rate (estimated)", "share"),
    "cost_per_search": ("vendor cost per search", "USD"),
}
LATENCY_QUANTILES = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control on one metric, over the A/B pairs."""

    metric: str
    label: str
    unit: str
    control: float
    treatment: float
    difference: Interval
    # The largest difference A/A pairs show at the same confidence; None without them.
    noise: float | None

    @property
    def within_noise(self) -> bool | None:
        """True when the difference is no larger than vendor noise."""
        if self.noise is None or math.isnan(self.difference.estimate):
            return None
        return abs(self.difference.estimate) <= self.noise


@dataclass(frozen=True)
class ShadowAnalysis:
    """Everything the shadow analysis measured on one window."""

    start: datetime
    end: datetime
    control_config: str
    treatment_config: str
    ab_pairs: int
    aa_pairs: int
    shadowed: int
    incomplete: int
    comparisons: dict[str, Comparison]
    aa_hit_discordance: float
    max_vendor_error: tuple[str, float, int, int] | None
    vendors: pd.DataFrame
    positions: pd.DataFrame
    spend: dict[str, float]
    projection: dict[str, float]

    @property
    def incomplete_rate(self) -> float:
        """Share of shadow runs that timed out or failed."""
        return self.incomplete / self.shadowed if self.shadowed else math.nan

    def ratio(self, metric: str) -> float:
        """Return treatment divided by control for one compared metric."""
        comparison = self.comparisons[metric]
        if not comparison.control:
            return math.nan
        return comparison.treatment / comparison.control


# ---------------------------------------------------------------- pairing


@dataclass(frozen=True)
class _Pairs:
    ab_control: pd.DataFrame
    ab_treatment: pd.DataFrame
    aa_primary: pd.DataFrame
    aa_shadow: pd.DataFrame
    shadowed: int
    incomplete: int


def _pair(window: Window, plan: RolloutPlan) -> _Pairs:
    executions = window.executions
    primary = executions[~executions["is_shadow"]]
    shadow = executions[executions["is_shadow"]]
    merged = primary.merge(shadow, on="search_id", suffixes=("_p", "_s"))
    incomplete = merged["error_type_s"].isin([SHADOW_TIMEOUT, SHADOW_FAILED])
    complete = merged[~incomplete]
    same = complete["config_name_p"] == complete["config_name_s"]
    ab = complete[~same]
    aa = complete[same]
    return _Pairs(
        ab_control=_side(ab, plan.control_config),
        ab_treatment=_side(ab, plan.treatment_config),
        aa_primary=_member(aa, "_p"),
        aa_shadow=_member(aa, "_s"),
        shadowed=len(merged),
        incomplete=int(incomplete.sum()),
    )


def _member(merged: pd.DataFrame, suffix: str) -> pd.DataFrame:
    columns = [c for c in merged.columns if c.endswith(suffix)]
    frame = merged[columns].rename(columns=lambda c: c[: -len(suffix)])
    frame["search_id"] = merged["search_id"].to_numpy()
    return frame.reset_index(drop=True)


def _side(merged: pd.DataFrame, config_name: str) -> pd.DataFrame:
    """Take, from each A/B pair, the execution that ran `config_name`."""
    primary = _member(merged, "_p")
    shadow = _member(merged, "_s")
    is_primary = primary["config_name"] == config_name
    chosen = pd.concat([primary[is_primary], shadow[~is_primary]])
    return chosen.sort_index()


# ---------------------------------------------------------------- values


def _vendor_rates(window: Window, plan: RolloutPlan) -> pd.DataFrame:
    """Measure each vendor's accuracy and issue rate on primary searches."""
    executions = window.executions[~window.executions["is_shadow"]]
    primary = Window(
        window.start,
        window.end,
        window.as_of,
        False,
        executions,
        window.calls,
        window.outcomes,
    )
    issues = profile_issues(primary, plan)
    complete = issues[issues["feedback_complete"]]
    issue_rate = complete.groupby("vendor_hit")["issue"].mean()
    vendor_of = executions.set_index("id")["vendor_hit"]
    outcomes = window.outcomes.assign(
        vendor=window.outcomes["execution_id"].map(vendor_of),
        positive=window.outcomes["status"].isin(POSITIVE_STATUSES),
    )
    accuracy = outcomes.groupby("vendor")["positive"].mean()
    return pd.DataFrame({"accuracy": accuracy, "issue_rate": issue_rate})


def _values(side: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """Compute each execution's per-search values for the paired metrics."""
    hit = side["vendor_hit"].notna()
    vendor = side["vendor_hit"]
    return pd.DataFrame(
        {
            "hit_rate": hit.astype(float),
            "staleness": side["staleness_days"].astype(float),
            "accuracy": vendor.map(rates["accuracy"]).astype(float),
            "first_hit_issue_rate": vendor.map(rates["issue_rate"]).astype(float),
            "cost_per_search": (side["cost"] + side["cost_saved"]).astype(float),
            "latency": side["latency_ms"].astype(float),
        }
    )


# ---------------------------------------------------------------- compare


def _compare(
    control: pd.DataFrame,
    treatment: pd.DataFrame,
    aa: tuple[pd.DataFrame, pd.DataFrame],
    level: float,
    resamples: int,
) -> dict[str, Comparison]:
    comparisons = {}
    for metric, (label, unit) in PAIRED_METRICS.items():
        difference = paired_difference_ci(treatment[metric] - control[metric], level)
        noise = _noise(paired_difference_ci(aa[1][metric] - aa[0][metric], level))
        comparisons[metric] = Comparison(
            metric,
            label,
            unit,
            float(control[metric].mean()),
            float(treatment[metric].mean()),
            difference,
            noise,
        )
    for metric, quantile in LATENCY_QUANTILES.items():
        arms = (treatment["latency"], control["latency"])
        aa_arms = (aa[1]["latency"], aa[0]["latency"])
        difference = paired_quantile_difference_ci(*arms, quantile, level, resamples)
        aa_interval = paired_quantile_difference_ci(
            *aa_arms, quantile, level, resamples
        )
        comparisons[metric] = Comparison(
            metric,
            f"p{round(quantile * 100)} latency",
            "ms",
            _quantile(control["latency"], quantile),
            _quantile(treatment["latency"], quantile),
            difference,
            _noise(aa_interval),
        )
    return comparisons


def _quantile(values: pd.Series, quantile: float) -> float:
    return float(values.quantile(quantile)) if len(values) else math.nan


def _noise(interval: Interval) -> float | None:
    if math.isnan(interval.low) or math.isnan(interval.high):
        return None
    return max(abs(interval.low), abs(interval.high))


def _discordance(first: pd.DataFrame, second: pd.DataFrame) -> float:
    """Share of A/A pairs where one run returned a profile and the other did not."""
    if first.empty:
        return math.nan
    return float((first["hit_rate"] != second["hit_rate"]).mean())


def _projection(
    window: Window, comparisons: dict[str, Comparison], days: float
) -> dict[str, float]:
    """Project monthly searches and spend from the window's primary search rate."""
    primary = int((~window.executions["is_shadow"]).sum())
    window_days = (window.end - window.start).total_seconds() / SECONDS_PER_DAY
    searches = primary / window_days * days if window_days > 0 else math.nan
    cost = comparisons["cost_per_search"]
    return {
        "days": days,
        "searches": searches,
        "control_spend": cost.control * searches,
        "treatment_spend": cost.treatment * searches,
    }


# ---------------------------------------------------------------- entry point


def analyse_shadow_window(
    store: Store,
    plan: RolloutPlan,
    start: datetime,
    end: datetime,
    as_of: datetime,
    level: float = 0.95,
    resamples: int = 400,
    projection_days: float = 30.0,
) -> ShadowAnalysis:
    """Load the window's paired executions and compare the two configs."""
    window = load_window(store, start, end, as_of, include_shadow=True)
    return analyse_window(window, plan, level, resamples, projection_days)


def analyse_window(
    window: Window,
    plan: RolloutPlan,
    level: float = 0.95,
    resamples: int = 400,
    projection_days: float = 30.0,
) -> ShadowAnalysis:
    """Compare the two configs on an already loaded window with shadow rows."""
    pairs = _pair(window, plan)
    rates = _vendor_rates(window, plan)
    control = _values(pairs.ab_control, rates)
    treatment = _values(pairs.ab_treatment, rates)
    aa = (_values(pairs.aa_primary, rates), _values(pairs.aa_shadow, rates))
    comparisons = _compare(control, treatment, aa, level, resamples)
    projection = _projection(window, comparisons, projection_days)
    sides = {
        plan.control_config: pairs.ab_control,
        plan.treatment_config: pairs.ab_treatment,
    }
    return ShadowAnalysis(
        start=window.start,
        end=window.end,
        control_config=plan.control_config,
        treatment_config=plan.treatment_config,
        ab_pairs=len(control),
        aa_pairs=len(aa[0]),
        shadowed=pairs.shadowed,
        incomplete=pairs.incomplete,
        comparisons=comparisons,
        aa_hit_discordance=_discordance(*aa),
        max_vendor_error=breakdown.worst_vendor(window),
        vendors=breakdown.vendor_table(window, sides, projection["searches"]),
        positions=breakdown.positions(sides),
        spend=breakdown.spend(window),
        projection=projection,
    )


def comparison_rows(analysis: ShadowAnalysis) -> list[dict[str, Any]]:
    """Return one plain dict per comparison, for tables and JSON."""
    rows = []
    for comparison in analysis.comparisons.values():
        interval = comparison.difference
        rows.append(
            {
                "metric": comparison.metric,
                "label": comparison.label,
                "unit": comparison.unit,
                analysis.control_config: comparison.control,
                analysis.treatment_config: comparison.treatment,
                "difference": interval.estimate,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "aa_noise": comparison.noise,
                "within_noise": comparison.within_noise,
            }
        )
    return rows
