"""Rollout metrics per waterfall config and per vendor, computed with pandas.

A window is every search execution whose `started_at` falls in [start, end),
with its vendor calls and the contact outcomes observed by `as_of`. Outcomes
arrive days after the search, so metrics built on them count only outcomes
with `observed_at <= as_of`. An undefined metric (an empty config, no
feedback yet) is NaN in the frames and None in `metrics_json`.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from waterfall.plan import RolloutPlan
from waterfall.stats import sample_ratio_test
from waterfall.store import Store
from waterfall.store.models import ContactOutcome, SearchExecution, VendorCall

# Vendor call outcomes that count as a vendor error. "skipped" calls (the
# breaker was open) are left out of the denominator as well.
ERROR_OUTCOMES = frozenset(
    {
        "server_error",
        "timeout",
        "connection_error",
        "malformed",
        "out_of_credit",
        "rate_limited",
    }
)
SKIPPED_OUTCOME = "skipped"
POSITIVE_STATUSES = frozenset({"delivered", "valid"})

EXECUTION_COLUMNS = (
    "id",
    "subject_id",
    "config_name",
    "is_shadow",
    "started_at",
    "position_hit",
    "vendor_hit",
    "staleness_days",
    "has_email",
    "has_phone",
    "latency_ms",
    "error_occurred",
    "cost",
    "search_id",
    "error_type",
    "cost_saved",
)
CALL_COLUMNS = (
    "execution_id",
    "config_name",
    "vendor",
    "position",
    "outcome",
    "latency_ms",
    "cost",
    "reused_from",
    "cost_saved",
)
OUTCOME_COLUMNS = ("execution_id", "config_name", "channel", "status", "observed_at")


@dataclass(frozen=True)
class Window:
    """Executions, vendor calls and arrived contact outcomes of one time window."""

    start: datetime
    end: datetime
    as_of: datetime
    include_shadow: bool
    executions: pd.DataFrame
    calls: pd.DataFrame
    outcomes: pd.DataFrame

    def for_configs(self, *config_names: str) -> Window:
        """Return a copy restricted to the named configs."""
        return Window(
            self.start,
            self.end,
            self.as_of,
            self.include_shadow,
            _rows_of(self.executions, config_names),
            _rows_of(self.calls, config_names),
            _rows_of(self.outcomes, config_names),
        )


def _rows_of(frame: pd.DataFrame, config_names: tuple[str, ...]) -> pd.DataFrame:
    return frame[frame["config_name"].isin(config_names)].reset_index(drop=True)


# ---------------------------------------------------------------- loading


def load_window(
    store_or_session: Store | Session,
    start: datetime,
    end: datetime,
    as_of: datetime,
    include_shadow: bool = False,
) -> Window:
    """Load the executions started in [start, end) with their calls and outcomes."""
    for name, moment in (("start", start), ("end", end), ("as_of", as_of)):
        if moment.tzinfo is None:
            raise ValueError(f"{name}={moment!r} is naive: pass an aware datetime")
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")

    in_window = [SearchExecution.started_at >= start, SearchExecution.started_at < end]
    if not include_shadow:
        in_window.append(SearchExecution.is_shadow.is_(False))

    with _session_of(store_or_session) as session:
        executions = _fetch(
            session,
            select(*(getattr(SearchExecution, c) for c in EXECUTION_COLUMNS)).where(
                *in_window
            ),
            EXECUTION_COLUMNS,
        )
        calls = _fetch(session, _calls_query(in_window), CALL_COLUMNS)
        outcomes = _fetch(session, _outcomes_query(in_window, as_of), OUTCOME_COLUMNS)
    return Window(
        start,
        end,
        as_of,
        include_shadow,
        _typed_executions(executions),
        _typed_calls(calls),
        outcomes,
    )


def _session_of(
    store_or_session: Store | Session,
) -> AbstractContextManager[Session]:
    if isinstance(store_or_session, Store):
        return store_or_session.session()
    return nullcontext(store_or_session)


def _calls_query(in_window: list[Any]) -> Any:
    columns = [getattr(VendorCall, c) for c in CALL_COLUMNS if c != "config_name"]
    return (
        select(*columns[:1], SearchExecution.config_name, *columns[1:])
        .join(SearchExecution, SearchExecution.id == VendorCall.execution_id)
        .where(*in_window)
    )


def _outcomes_query(in_window: list[Any], as_of: datetime) -> Any:
    return (
        select(
            ContactOutcome.execution_id,
            SearchExecution.config_name,
            ContactOutcome.channel,
            ContactOutcome.status,
            ContactOutcome.observed_at,
        )
        .join(SearchExecution, SearchExecution.id == ContactOutcome.execution_id)
        .where(*in_window, ContactOutcome.observed_at <= as_of)
    )


def _fetch(session: Session, query: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    rows = session.execute(query).all()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _typed_executions(frame: pd.DataFrame) -> pd.DataFrame:
    # An empty result has object columns; cast so the arithmetic below works.
    return frame.astype(
        {
            "is_shadow": bool,
            "position_hit": "float64",
            "staleness_days": "float64",
            "has_email": bool,
            "has_phone": bool,
            "latency_ms": "float64",
            "error_occurred": bool,
            "cost": "float64",
            "cost_saved": "float64",
        }
    )


def _typed_calls(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {
            "position": "int64",
            "latency_ms": "float64",
            "cost": "float64",
            "cost_saved": "float64",
        }
    )


# ---------------------------------------------------------------- derived rows


def profile_issues(window: Window, plan: RolloutPlan) -> pd.DataFrame:
    """Flag each execution that returned a profile: feedback-complete and issue.

    An issue is a bounced email, an invalid phone, or staleness above
    plan.issue_staleness_days. A search is feedback-complete when every
    contact point it returned (email, phone) has an arrived outcome.
    """
    executions = window.executions
    profiles = executions[executions["vendor_hit"].notna()]
    outcomes = window.outcomes
    email = outcomes[outcomes["channel"] == "email"].set_index("execution_id")
    phone = outcomes[outcomes["channel"] == "phone"].set_index("execution_id")
    email_status = profiles["id"].map(email["status"])
    phone_status = profiles["id"].map(phone["status"])

    email_done = ~profiles["has_email"] | email_status.notna()
    phone_done = ~profiles["has_phone"] | phone_status.notna()
    stale = profiles["staleness_days"] > plan.issue_staleness_days
    issue = (email_status == "bounced") | (phone_status == "invalid") | stale
    return pd.DataFrame(
        {
            "config_name": profiles["config_name"],
            "vendor_hit": profiles["vendor_hit"],
            "feedback_complete": email_done & phone_done,
            "issue": issue.fillna(False).astype(bool),
            "email_status": email_status,
        }
    )


def _config_index(window: Window, plan: RolloutPlan) -> pd.Index:
    names = [plan.control_config, plan.treatment_config]
    names += sorted(set(window.executions["config_name"]) - set(names))
    return pd.Index(names, name="config_name")


def _share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    # 0/0 is undefined, so it becomes NaN instead of raising or giving 0.
    return numerator.astype(float) / denominator.replace(0, np.nan).astype(float)


# ---------------------------------------------------------------- per config


def config_metrics(window: Window, plan: RolloutPlan) -> pd.DataFrame:
    """Compute one row of rollout metrics per config, indexed by config_name.

    The plan's control and treatment configs always have a row, even when
    they ran no searches. Latency quantiles use linear interpolation.
    """
    index = _config_index(window, plan)
    executions = window.executions
    by_config = executions.groupby("config_name")
    frame = pd.DataFrame(index=index)

    frame["searches"] = by_config.size().reindex(index, fill_value=0)
    with_profile = executions[executions["vendor_hit"].notna()]
    frame["searches_with_profile"] = (
        with_profile.groupby("config_name").size().reindex(index, fill_value=0)
    )
    frame["hit_rate"] = _share(frame["searches_with_profile"], frame["searches"])
    frame["staleness_mean_days"] = with_profile.groupby("config_name")[
        "staleness_days"
    ].mean()
    frame = frame.join(_accuracy(window, index))
    frame = frame.join(_issue_rates(window, plan, index))
    frame["cost_per_search"] = by_config["cost"].mean()
    frame["total_cost"] = by_config["cost"].sum().reindex(index, fill_value=0.0)
    for quantile in (50, 95, 99):
        frame[f"latency_p{quantile}_ms"] = by_config["latency_ms"].quantile(
            quantile / 100
        )
    frame["error_rate"] = _error_counts(window.calls, ["config_name"]).reindex(index)[
        "error_rate"
    ]
    frame["observed_share"] = _observed_shares(executions, index)
    return frame


def _accuracy(window: Window, index: pd.Index) -> pd.DataFrame:
    outcomes = window.outcomes
    positive = outcomes["status"].isin(POSITIVE_STATUSES)
    grouped = positive.groupby(outcomes["config_name"])
    points = grouped.size().reindex(index, fill_value=0)
    positives = grouped.sum().reindex(index, fill_value=0)
    return pd.DataFrame(
        {"accuracy": _share(positives, points), "feedback_points": points}
    )


def _issue_rates(window: Window, plan: RolloutPlan, index: pd.Index) -> pd.DataFrame:
    issues = profile_issues(window, plan)
    complete = issues[issues["feedback_complete"]]
    grouped = complete.groupby("config_name")["issue"]
    searches = grouped.size().reindex(index, fill_value=0)
    with_issue = grouped.sum().reindex(index, fill_value=0)
    return pd.DataFrame(
        {
            "feedback_searches": searches,
            "first_hit_issue_rate": _share(with_issue, searches),
        }
    )


def _observed_shares(executions: pd.DataFrame, index: pd.Index) -> pd.Series:
    # The split is about routing, so shadow executions never count.
    primary = executions[~executions["is_shadow"]]
    counts = primary.groupby("config_name").size().reindex(index, fill_value=0)
    total = len(primary)
    return counts / total if total else pd.Series(np.nan, index=index)


def _error_counts(calls: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    billed = calls[calls["outcome"] != SKIPPED_OUTCOME]
    failed = billed["outcome"].isin(ERROR_OUTCOMES)
    grouped = failed.groupby([billed[key] for key in keys])
    counts = pd.DataFrame({"calls": grouped.size(), "errors": grouped.sum()})
    counts["errors"] = counts["errors"].astype("int64")
    counts["error_rate"] = _share(counts["errors"], counts["calls"])
    return counts


# ---------------------------------------------------------------- per vendor


def vendor_error_rates(window: Window) -> pd.DataFrame:
    """Compute calls, errors and error_rate per vendor over every config's calls.

    Skipped calls count in neither the calls nor the errors.
    """
    counts = _error_counts(window.calls, ["vendor"])
    counts.index.name = "vendor"
    return counts.sort_index()


def vendor_metrics(window: Window, plan: RolloutPlan) -> pd.DataFrame:
    """Compute per-(config, vendor) error, hit, quality, staleness and cost figures.

    quality_score is 100 x profiles with an issue / profiles returned, over
    feedback-complete searches, so lower is better.
    """
    keys = ["config_name", "vendor"]
    calls = window.calls
    frame = _error_counts(calls, keys)
    hits = window.executions[window.executions["vendor_hit"].notna()]
    hit_groups = hits.groupby(
        [hits["config_name"], hits["vendor_hit"].rename("vendor")]
    )
    frame = frame.join(hit_groups.size().rename("hits"), how="outer")
    frame = frame.join(_vendor_feedback(window, plan), how="outer")
    frame["staleness_mean_days"] = hit_groups["staleness_days"].mean()
    cost = calls.groupby(keys)["cost"].sum()
    frame["cost"] = cost.reindex(frame.index).fillna(0.0)

    for column in ("calls", "errors", "hits"):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame.index = frame.index.set_names(keys)
    return frame[
        [
            "calls",
            "errors",
            "error_rate",
            "hits",
            "quality_score",
            "staleness_mean_days",
            "email_bounce_rate",
            "cost",
        ]
    ].sort_index()


def _vendor_feedback(window: Window, plan: RolloutPlan) -> pd.DataFrame:
    issues = profile_issues(window, plan)
    keys = [issues["config_name"], issues["vendor_hit"].rename("vendor")]
    complete = issues["feedback_complete"]
    quality = (issues["issue"] & complete).groupby(keys).sum()
    profiles = complete.groupby(keys).sum()
    emails = issues["email_status"].notna().groupby(keys).sum()
    bounces = (issues["email_status"] == "bounced").groupby(keys).sum()
    return pd.DataFrame(
        {
            "quality_score": 100 * _share(quality, profiles),
            "email_bounce_rate": _share(bounces, emails),
        }
    )


def position_hit_rates(window: Window) -> pd.DataFrame:
    """Compute the share of each config's searches hit at each position.

    One row per (config_name, position) with hits, searches and hit_rate.
    """
    executions = window.executions
    searches = executions.groupby("config_name").size()
    answered = executions[executions["position_hit"].notna()]
    hits = answered.groupby(
        [answered["config_name"], answered["position_hit"].astype("int64")]
    ).size()
    frame = hits.rename("hits").to_frame()
    frame.index = frame.index.set_names(["config_name", "position"])
    frame["searches"] = searches.reindex(frame.index.get_level_values(0)).to_numpy()
    frame["hit_rate"] = frame["hits"] / frame["searches"]
    return frame.reset_index()


# ---------------------------------------------------------------- spend


def spend_summary(
    store_or_session: Store | Session, start: datetime, end: datetime
) -> dict[str, Any]:
    """Sum vendor spend in [start, end), primary and shadow apart.

    Shadow spend is what shadow runs paid vendors; `shadow_cost_saved` and
    `shadow_calls_reused` are the calls they took from their primary
    instead of paying a second time.
    """
    in_window = (SearchExecution.started_at >= start, SearchExecution.started_at < end)
    executions = (
        select(
            SearchExecution.is_shadow,
            func.count(),
            func.coalesce(func.sum(SearchExecution.cost), 0.0),
            func.coalesce(func.sum(SearchExecution.cost_saved), 0.0),
        )
        .where(*in_window)
        .group_by(SearchExecution.is_shadow)
    )
    reused = (
        select(func.count())
        .select_from(VendorCall)
        .join(SearchExecution, SearchExecution.id == VendorCall.execution_id)
        .where(*in_window, VendorCall.reused_from.is_not(None))
    )
    with _session_of(store_or_session) as session:
        sums = {bool(row[0]): row[1:] for row in session.execute(executions)}
        reused_calls = int(session.scalar(reused) or 0)
    primary = sums.get(False, (0, 0.0, 0.0))
    shadow = sums.get(True, (0, 0.0, 0.0))
    return {
        "primary_executions": int(primary[0]),
        "primary_cost": float(primary[1]),
        "shadow_executions": int(shadow[0]),
        "shadow_cost": float(shadow[1]),
        "shadow_cost_saved": float(shadow[2]),
        "shadow_calls_reused": reused_calls,
    }


# ---------------------------------------------------------------- JSON


def metrics_json(
    window: Window, plan: RolloutPlan, target_percentage: float | None = None
) -> dict[str, Any]:
    """Build a JSON-safe dict of every metric, for `waterfall metrics --json`.

    With target_percentage, it also reports the sample-ratio-mismatch test of
    the treatment share.
    """
    configs = config_metrics(window, plan)
    result: dict[str, Any] = {
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "as_of": window.as_of.isoformat(),
            "include_shadow": window.include_shadow,
        },
        "configs": records(configs.reset_index()),
        "vendors": records(vendor_metrics(window, plan).reset_index()),
        "vendor_error_rates": records(vendor_error_rates(window).reset_index()),
        "position_hit_rates": records(position_hit_rates(window)),
    }
    if target_percentage is not None:
        primary = window.executions[~window.executions["is_shadow"]]
        subjects = primary.drop_duplicates("subject_id")
        counts = subjects["config_name"].value_counts()
        test = sample_ratio_test(
            int(counts.get(plan.treatment_config, 0)),
            int(counts.get(plan.control_config, 0)),
            target_percentage,
        )
        result["sample_ratio"] = {
            key: json_value(value) for key, value in vars(test).items()
        }
    return result


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Convert a frame to a list of dicts of plain JSON values."""
    return [
        {str(key): json_value(value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]


def json_value(value: Any) -> Any:
    """Convert numpy and pandas scalars to JSON values; NaN and infinity to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT or value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
