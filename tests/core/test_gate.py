"""The rollout gate on synthetic windows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest

from tests.core.test_metrics import AS_OF, END, START, add_search, rollout_plan
from waterfall.gate import GateResult, evaluate_gate, suite_parameters
from waterfall.metrics import load_window
from waterfall.store import Store


@dataclass(frozen=True)
class ArmSpec:
    """How to synthesise one arm's searches; every search returns a profile."""

    searches: int = 150
    staleness_days: float = 100.0
    very_stale_every: int = 0  # every k-th profile is 400 days old (an issue)
    bounce_every: int = 10  # every k-th email bounces
    cost: float = 0.6
    latency_ms: float = 200.0
    timeout_every: int = 0  # every k-th search's first call times out


CONTROL = ArmSpec()
TREATMENT = ArmSpec(staleness_days=60.0, bounce_every=0)


def add_arm(store: Store, config: str, spec: ArmSpec) -> None:
    """Insert one arm's searches into the store."""
    with store.session() as session:
        for i in range(spec.searches):
            very_stale = spec.very_stale_every and i % spec.very_stale_every == 0
            staleness = 400.0 if very_stale else spec.staleness_days + i % 7 - 3
            bounced = spec.bounce_every and i % spec.bounce_every == 0
            calls = [("alpha", "hit", spec.cost)]
            if spec.timeout_every and i % spec.timeout_every == 0:
                calls = [("alpha", "timeout", 0.0), ("beta", "hit", spec.cost)]
            add_search(
                session,
                config,
                vendor=calls[-1][0],
                position=len(calls),
                staleness=staleness,
                email="bounced" if bounced else "delivered",
                latency_ms=spec.latency_ms + (i % 20) * 5,
                calls=calls,
            )


def evaluate(
    store: Store,
    control: ArmSpec | None = CONTROL,
    treatment: ArmSpec = TREATMENT,
    target: float = 50,
    **plan_changes: object,
) -> GateResult:
    """Insert both arms, load the window and evaluate the gate on it."""
    if control is not None:
        add_arm(store, "standard", control)
    add_arm(store, "optimized", treatment)
    limits = {"min_searches_per_arm": 100, "min_feedback_searches_per_arm": 50}
    plan = rollout_plan(**{**limits, **plan_changes})
    return evaluate_gate(load_window(store, START, END, AS_OF), plan, target)


class TestPassingWindow:
    @pytest.fixture
    def result(self, store: Store) -> GateResult:
        return evaluate(store)

    def test_verdict_is_pass(self, result) -> None:
        assert result.verdict == "pass"

    def test_every_check_passes(self, result) -> None:
        failed = [check.name for check in result.checks if not check.passed]
        assert failed == []

    def test_staleness_interval_is_below_zero(self, result) -> None:
        check = result.check("staleness")
        assert check.observed == pytest.approx(-40.0)
        assert check.ci_high < 0

    def test_reports_sample_sizes(self, result) -> None:
        assert result.sample_sizes["control_searches"] == 150
        assert result.sample_sizes["treatment_feedback_searches"] == 150

    def test_thresholds_come_from_plan(self, result) -> None:
        assert result.check("p95_latency").threshold == 1.2
        assert result.check("sample_ratio").threshold == 0.001

    def test_to_dict_is_strict_json(self, result) -> None:
        payload = result.to_dict()
        assert json.loads(json.dumps(payload, allow_nan=False)) == payload
        assert payload["checks"][0]["name"] == "staleness"


class TestFailingChecks:
    @pytest.mark.parametrize(
        ("check", "treatment"),
        [
            ("staleness", replace(TREATMENT, staleness_days=100.5)),
            ("accuracy", replace(TREATMENT, bounce_every=4)),
            ("vendor_error_rate", replace(TREATMENT, timeout_every=3)),
            ("cost_per_search", replace(TREATMENT, cost=0.9)),
            ("p95_latency", replace(TREATMENT, latency_ms=300.0)),
        ],
    )
    def test_failing_check_fails_gate(self, store: Store, check, treatment) -> None:
        result = evaluate(store, treatment=treatment)
        assert result.verdict == "fail"
        assert result.check(check).passed is False
        assert check in result.reason

    def test_worst_vendor_is_named(self, store: Store) -> None:
        result = evaluate(store, treatment=replace(TREATMENT, timeout_every=3))
        assert "'alpha'" in result.check("vendor_error_rate").detail

    def test_sample_ratio_mismatch_fails(self, store: Store) -> None:
        result = evaluate(store, target=10)
        assert result.verdict == "fail"
        assert result.check("sample_ratio").passed is False
        assert "sample_ratio" in result.reason

    def test_threshold_change_flips_check(self, store: Store) -> None:
        result = evaluate(
            store,
            gates={
                **rollout_plan().gates,
                "cost_per_search": rollout_plan()
                .gates["cost_per_search"]
                .model_copy(update={"forecast_usd": 0.4}),
            },
        )
        assert result.check("cost_per_search").passed is False


# Every fifth treatment profile is past the staleness limit: 20 % issues against
# the control's 10 %, a difference whose whole interval is above 0 at 400
# searches per arm, while the mean staleness stays below the control's.
WIDE_CONTROL = replace(CONTROL, searches=400)
STALE_TAIL = replace(TREATMENT, searches=400, staleness_days=1.0, very_stale_every=5)


class TestObserveOnly:
    def test_failing_observe_only_check_passes(self, store: Store) -> None:
        # More profiles past the staleness limit, yet a lower mean staleness.
        result = evaluate(store, control=WIDE_CONTROL, treatment=STALE_TAIL)
        check = result.check("first_hit_issue_rate")
        assert check.passed is False
        assert check.gating is False
        assert result.verdict == "pass"

    def test_gating_flag_makes_it_decide(self, store: Store) -> None:
        gates = dict(rollout_plan().gates)
        gates["first_hit_issue_rate"] = gates["first_hit_issue_rate"].model_copy(
            update={"gating": True}
        )
        result = evaluate(
            store, control=WIDE_CONTROL, treatment=STALE_TAIL, gates=gates
        )
        assert result.verdict == "fail"


class TestThinFeedback:
    def test_thin_feedback_alone_is_inconclusive(self, store: Store) -> None:
        result = evaluate(store, min_feedback_searches_per_arm=10**6)
        assert result.verdict == "inconclusive"
        assert "too little feedback" in result.reason

    def test_error_rate_fails_without_feedback(self, store: Store) -> None:
        treatment = replace(TREATMENT, timeout_every=2)
        result = evaluate(
            store, treatment=treatment, min_feedback_searches_per_arm=10**6
        )
        assert result.verdict == "fail"
        assert "vendor_error_rate" in result.reason


class TestUndecidedInterval:
    def test_straddling_interval_is_inconclusive(self, store: Store) -> None:
        # Equal issue rates: the interval of the difference spans 0.
        gates = dict(rollout_plan().gates)
        gates["first_hit_issue_rate"] = gates["first_hit_issue_rate"].model_copy(
            update={"gating": True}
        )
        treatment = replace(TREATMENT, staleness_days=20.0, very_stale_every=10)
        result = evaluate(store, treatment=treatment, gates=gates)
        check = result.check("first_hit_issue_rate")
        assert check.passed is None
        assert "spans the threshold" in check.detail
        assert result.verdict == "inconclusive"


class TestThinData:
    def test_few_searches_is_inconclusive(self, store: Store) -> None:
        result = evaluate(
            store,
            control=replace(CONTROL, searches=40),
            treatment=replace(TREATMENT, searches=40),
        )
        assert result.verdict == "inconclusive"
        assert "40 searches" in result.reason

    def test_failing_check_on_thin_data(self, store: Store) -> None:
        result = evaluate(
            store,
            control=replace(CONTROL, searches=40),
            treatment=replace(TREATMENT, searches=40, cost=0.9),
        )
        assert result.verdict == "inconclusive"
        assert result.check("cost_per_search").passed is False

    def test_missing_feedback_is_inconclusive(self, store: Store) -> None:
        result = evaluate(store, min_feedback_searches_per_arm=500)
        assert result.verdict == "inconclusive"
        assert "feedback-complete" in result.reason


class TestFullRollout:
    def test_without_baseline_skips_comparisons(self, store: Store) -> None:
        result = evaluate(store, control=None, target=100)
        assert result.verdict == "pass"
        assert result.check("staleness").applicable is False
        assert result.check("staleness").passed is None
        assert result.check("sample_ratio").passed is True

    def test_baseline_supplies_control(self, store: Store) -> None:
        add_arm(store, "standard", CONTROL)
        plan = rollout_plan(min_searches_per_arm=100, min_feedback_searches_per_arm=50)
        baseline = load_window(store, START, END, AS_OF)
        later = END + (END - START)
        with store.session() as session:
            for _ in range(150):
                add_search(session, "optimized", started_at=END, vendor="alpha",
                           position=1, staleness=150.0, email="delivered",
                           email_at=later, calls=[("alpha", "hit", 0.6)])  # fmt: skip
        window = load_window(store, END, later, later)
        result = evaluate_gate(window, plan, 100, baseline=baseline)
        assert result.check("staleness").passed is False
        assert result.verdict == "fail"

    def test_control_rows_at_full_rollout_fail(self, store: Store) -> None:
        result = evaluate(store, control=replace(CONTROL, searches=5), target=100)
        assert result.check("sample_ratio").passed is False


class TestSuiteParameters:
    def test_every_plan_threshold_is_filled(self) -> None:
        parameters = suite_parameters(rollout_plan())
        assert parameters["accuracy_min_difference"] == -0.02
        assert parameters["srm_p_value_min"] == 0.001
        assert len(parameters) == 7
