"""Metrics on hand-computed windows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from waterfall.metrics import (
    config_metrics,
    load_window,
    metrics_json,
    position_hit_rates,
    vendor_error_rates,
    vendor_metrics,
)
from waterfall.plan import RolloutPlan, load_plan
from waterfall.store import Store
from waterfall.store.models import ContactOutcome, SearchExecution, VendorCall

PLAN_PATH = Path(__file__).resolve().parents[2] / "config" / "rollout_plan.yaml"
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(days=1)
AS_OF = START + timedelta(days=3)
ARRIVED = START + timedelta(days=2)
PENDING = START + timedelta(days=5)


def rollout_plan(**changes: object) -> RolloutPlan:
    """Load the project's rollout plan, with optional field changes."""
    return load_plan(PLAN_PATH).model_copy(update=changes)


def add_search(
    session: Session,
    config: str,
    *,
    started_at: datetime = START,
    vendor: str | None = None,
    position: int | None = None,
    staleness: float | None = None,
    email: str | None = None,
    phone: str | None = None,
    email_at: datetime = ARRIVED,
    phone_at: datetime = ARRIVED,
    has_email: bool | None = None,
    has_phone: bool | None = None,
    latency_ms: float = 100.0,
    calls: Sequence[tuple[str, str, float]] = (),
    shadow: bool = False,
) -> str:
    """Insert one execution with its vendor calls and contact outcomes.

    calls are (vendor, outcome, cost). The execution cost is their sum.
    """
    execution_id = str(uuid.uuid4())
    session.execute(
        insert(SearchExecution),
        [
            {
                "id": execution_id,
                "search_id": execution_id,
                "subject_id": f"subject-{execution_id[:8]}",
                "config_name": config,
                "is_shadow": shadow,
                "rollout_name": "optimized-waterfall",
                "rollout_percentage": 50.0,
                "route_bucket": 1.0,
                "route_reason": "test",
                "started_at": started_at,
                "criteria": {},
                "positions_tried": list(range(1, len(calls) + 1)),
                "position_hit": position,
                "vendor_hit": vendor,
                "staleness_days": staleness,
                "has_email": email is not None if has_email is None else has_email,
                "has_phone": phone is not None if has_phone is None else has_phone,
                "latency_ms": latency_ms,
                "cost": sum(cost for _, _, cost in calls),
            }
        ],
    )
    call_rows = [
        {
            "execution_id": execution_id,
            "vendor": call_vendor,
            "position": index,
            "outcome": outcome,
            "latency_ms": 10.0,
            "cost": cost,
            "started_at": started_at,
        }
        for index, (call_vendor, outcome, cost) in enumerate(calls, start=1)
    ]
    if call_rows:
        session.execute(insert(VendorCall), call_rows)
    outcome_rows = [
        {
            "execution_id": execution_id,
            "channel": channel,
            "status": status,
            "observed_at": observed_at,
            "ingested_at": observed_at,
        }
        for channel, status, observed_at in (
            ("email", email, email_at),
            ("phone", phone, phone_at),
        )
        if status is not None
    ]
    if outcome_rows:
        session.execute(insert(ContactOutcome), outcome_rows)
    return execution_id


def add_example_searches(store: Store) -> None:
    """Insert the hand-computed example window used by the metric tests."""
    with store.session() as session:
        # standard s1: clean first-position hit, email and phone both positive.
        add_search(
            session, "standard", vendor="alpha", position=1, staleness=10.0,
            email="delivered", phone="valid", latency_ms=100.0,
            calls=[("alpha", "hit", 0.5)],
        )  # fmt: skip
        # standard s2: second-position hit, an issue by staleness (> 365 days).
        add_search(
            session, "standard", vendor="beta", position=2, staleness=400.0,
            email="delivered", latency_ms=200.0,
            calls=[("alpha", "timeout", 0.3), ("beta", "hit", 0.5)],
        )  # fmt: skip
        # standard s3: no profile.
        add_search(
            session, "standard", latency_ms=300.0,
            calls=[("alpha", "miss", 0.3), ("beta", "miss", 0.5)],
        )  # fmt: skip
        # standard s4: email bounced, but the phone outcome arrives after as_of.
        add_search(
            session, "standard", vendor="alpha", position=1, staleness=20.0,
            email="bounced", phone="valid", phone_at=PENDING, latency_ms=400.0,
            calls=[("alpha", "hit", 0.5)],
        )  # fmt: skip
        # optimized o1: an issue through the invalid phone.
        add_search(
            session, "optimized", vendor="alpha", position=1, staleness=30.0,
            email="delivered", phone="invalid", latency_ms=100.0,
            calls=[("alpha", "hit", 0.5)],
        )  # fmt: skip
        # optimized o2: the skipped call counts in neither calls nor errors.
        add_search(
            session, "optimized", vendor="beta", position=2, staleness=50.0,
            email="delivered", latency_ms=150.0,
            calls=[("alpha", "skipped", 0.0), ("beta", "hit", 0.4)],
        )  # fmt: skip
        # Outside the window or shadow: excluded by default.
        add_search(
            session, "optimized", vendor="alpha", position=1, staleness=999.0,
            shadow=True, calls=[("alpha", "server_error", 9.0)],
        )  # fmt: skip
        add_search(
            session, "standard", started_at=START - timedelta(seconds=1),
            calls=[("alpha", "timeout", 9.0)],
        )  # fmt: skip
        add_search(
            session, "standard", started_at=END, calls=[("alpha", "timeout", 9.0)]
        )


@pytest.fixture
def example(store: Store):
    """The example window loaded from the store."""
    add_example_searches(store)
    return load_window(store, START, END, AS_OF)


@pytest.fixture
def plan() -> RolloutPlan:
    """The project's rollout plan."""
    return rollout_plan()


class TestLoadWindow:
    def test_keeps_only_primary_rows_in_window(self, example) -> None:
        assert len(example.executions) == 6

    def test_calls_follow_their_executions(self, example) -> None:
        assert len(example.calls) == 9

    def test_drops_outcomes_not_yet_observed(self, example) -> None:
        assert len(example.outcomes) == 7

    def test_includes_shadow_when_asked(self, store: Store) -> None:
        add_example_searches(store)
        window = load_window(store, START, END, AS_OF, include_shadow=True)
        assert len(window.executions) == 7

    def test_accepts_a_session(self, store: Store) -> None:
        add_example_searches(store)
        with store.session() as session:
            window = load_window(session, START, END, AS_OF)
        assert len(window.executions) == 6

    def test_rejects_naive_datetimes(self, store: Store) -> None:
        with pytest.raises(ValueError, match="naive"):
            load_window(store, START.replace(tzinfo=None), END, AS_OF)


class TestConfigMetrics:
    @pytest.fixture
    def standard(self, example, plan):
        return config_metrics(example, plan).loc["standard"]

    @pytest.fixture
    def optimized(self, example, plan):
        return config_metrics(example, plan).loc["optimized"]

    def test_counts_searches_and_profiles(self, standard) -> None:
        assert standard["searches"] == 4
        assert standard["searches_with_profile"] == 3
        assert standard["hit_rate"] == pytest.approx(0.75)

    def test_staleness_averages_returned_profiles(self, standard, optimized) -> None:
        assert standard["staleness_mean_days"] == pytest.approx(430 / 3)
        assert optimized["staleness_mean_days"] == pytest.approx(40.0)

    def test_accuracy_ignores_outcomes_after_as_of(self, standard) -> None:
        assert standard["feedback_points"] == 4
        assert standard["accuracy"] == pytest.approx(0.75)

    def test_accuracy_counts_invalid_phone(self, optimized) -> None:
        assert optimized["accuracy"] == pytest.approx(2 / 3)

    def test_issue_rate_uses_feedback_complete(self, standard) -> None:
        # s4 waits for its phone outcome, and s2 is an issue by staleness.
        assert standard["feedback_searches"] == 2
        assert standard["first_hit_issue_rate"] == pytest.approx(0.5)

    def test_issue_rate_counts_invalid_phone(self, optimized) -> None:
        assert optimized["feedback_searches"] == 2
        assert optimized["first_hit_issue_rate"] == pytest.approx(0.5)

    def test_staleness_limit_comes_from_plan(self, example) -> None:
        lenient = rollout_plan(issue_staleness_days=500)
        row = config_metrics(example, lenient).loc["standard"]
        assert row["first_hit_issue_rate"] == pytest.approx(0.0)

    def test_cost_sums_every_attempt(self, standard) -> None:
        assert standard["cost_per_search"] == pytest.approx(0.65)
        assert standard["total_cost"] == pytest.approx(2.6)

    def test_latency_quantiles_interpolate(self, standard) -> None:
        assert standard["latency_p50_ms"] == pytest.approx(250.0)
        assert standard["latency_p95_ms"] == pytest.approx(385.0)
        assert standard["latency_p99_ms"] == pytest.approx(397.0)

    def test_error_rate_excludes_skipped(self, standard, optimized) -> None:
        assert standard["error_rate"] == pytest.approx(1 / 6)
        assert optimized["error_rate"] == pytest.approx(0.0)

    def test_observed_share_splits_primary(self, standard, optimized) -> None:
        assert standard["observed_share"] == pytest.approx(4 / 6)
        assert optimized["observed_share"] == pytest.approx(2 / 6)

    def test_shadow_rows_leave_split_alone(self, store: Store, plan) -> None:
        add_example_searches(store)
        window = load_window(store, START, END, AS_OF, include_shadow=True)
        row = config_metrics(window, plan).loc["optimized"]
        assert row["searches"] == 3
        assert row["observed_share"] == pytest.approx(2 / 6)


class TestEmptyData:
    def test_empty_window_gives_nan_rows(self, store: Store, plan) -> None:
        window = load_window(store, START, END, AS_OF)
        frame = config_metrics(window, plan)
        assert list(frame.index) == ["standard", "optimized"]
        assert (frame["searches"] == 0).all()
        assert frame["staleness_mean_days"].isna().all()
        assert frame["accuracy"].isna().all()
        assert frame["latency_p95_ms"].isna().all()

    def test_empty_window_other_frames(self, store: Store, plan) -> None:
        window = load_window(store, START, END, AS_OF)
        assert vendor_metrics(window, plan).empty
        assert vendor_error_rates(window).empty
        assert position_hit_rates(window).empty

    def test_empty_window_json_is_valid(self, store: Store, plan) -> None:
        window = load_window(store, START, END, AS_OF)
        payload = metrics_json(window, plan, target_percentage=10)
        assert payload["configs"][0]["accuracy"] is None
        assert payload["sample_ratio"]["p_value"] is None
        json.dumps(payload, allow_nan=False)

    def test_config_without_rows_is_nan(self, store: Store, plan) -> None:
        with store.session() as session:
            add_search(session, "standard", calls=[("alpha", "miss", 0.3)])
        window = load_window(store, START, END, AS_OF)
        row = config_metrics(window, plan).loc["optimized"]
        assert row["searches"] == 0
        assert math.isnan(row["cost_per_search"])
        assert math.isnan(row["error_rate"])
        assert row["observed_share"] == 0.0


class TestVendorMetrics:
    @pytest.fixture
    def vendors(self, example, plan):
        return vendor_metrics(example, plan)

    def test_error_rate_per_config_and_vendor(self, vendors) -> None:
        alpha = vendors.loc[("standard", "alpha")]
        assert alpha["calls"] == 4
        assert alpha["errors"] == 1
        assert alpha["error_rate"] == pytest.approx(0.25)

    def test_skipped_calls_are_not_counted(self, vendors) -> None:
        assert vendors.loc[("optimized", "alpha"), "calls"] == 1

    def test_quality_score_over_complete_profiles(self, vendors) -> None:
        # standard/alpha: s1 is clean and s4 is not feedback-complete yet.
        assert vendors.loc[("standard", "alpha"), "quality_score"] == 0.0
        assert vendors.loc[("standard", "beta"), "quality_score"] == 100.0
        assert vendors.loc[("optimized", "alpha"), "quality_score"] == 100.0

    def test_hits_staleness_and_bounces(self, vendors) -> None:
        alpha = vendors.loc[("standard", "alpha")]
        assert alpha["hits"] == 2
        assert alpha["staleness_mean_days"] == pytest.approx(15.0)
        assert alpha["email_bounce_rate"] == pytest.approx(0.5)

    def test_cost_sums_calls(self, vendors) -> None:
        assert vendors.loc[("standard", "alpha"), "cost"] == pytest.approx(1.6)
        assert vendors.loc[("standard", "beta"), "cost"] == pytest.approx(1.0)

    def test_error_rates_across_configs(self, example) -> None:
        rates = vendor_error_rates(example)
        assert rates.loc["alpha", "calls"] == 5
        assert rates.loc["alpha", "error_rate"] == pytest.approx(0.2)
        assert rates.loc["beta", "error_rate"] == pytest.approx(0.0)


class TestPositionHitRates:
    def test_share_per_position(self, example) -> None:
        frame = position_hit_rates(example).set_index(["config_name", "position"])
        assert frame.loc[("standard", 1), "hit_rate"] == pytest.approx(0.5)
        assert frame.loc[("standard", 2), "hit_rate"] == pytest.approx(0.25)
        assert frame.loc[("optimized", 1), "hit_rate"] == pytest.approx(0.5)
        assert frame.loc[("optimized", 2), "hit_rate"] == pytest.approx(0.5)


class TestMetricsJson:
    def test_round_trips_through_strict_json(self, example, plan) -> None:
        payload = metrics_json(example, plan, target_percentage=50)
        assert json.loads(json.dumps(payload, allow_nan=False)) == payload

    def test_reports_observed_split(self, example, plan) -> None:
        payload = metrics_json(example, plan, target_percentage=50)
        assert payload["sample_ratio"]["observed_share"] == pytest.approx(2 / 6)
        assert payload["sample_ratio"]["n_control"] == 4

    def test_config_rows_are_named(self, example, plan) -> None:
        payload = metrics_json(example, plan)
        names = [row["config_name"] for row in payload["configs"]]
        assert names == ["standard", "optimized"]
