"""The rollout gate: decide whether a rollout step may advance.

The gate derives one value per check from a metrics window (a CI bound, a
ratio or a p-value) and validates the one-row frame of those values with the
Great Expectations suite in expectations/rollout_gate.json. The thresholds
are suite parameters (`{"$PARAMETER": name}` in the JSON) filled from the
rollout plan at validation time, so the JSON contains no thresholds. Each
expectation's meta names its gate metric, which maps results back to checks.

Verdict rules, in order:

* inconclusive: an arm that is compared has fewer than
  plan.min_searches_per_arm searches. Thin data never passes and never
  fails, and the checks are still reported.
* An arm with fewer than plan.min_feedback_searches_per_arm
  feedback-complete searches silences the feedback checks (accuracy,
  first-hit issue rate): other checks may still fail the gate, and if none
  does the verdict is inconclusive.
* fail: a gating check did not pass. For a check on a confidence interval
  that means the whole interval is past the threshold; an interval that
  straddles it leaves the check undecided. Checks with gating false in the
  plan are reported but do not decide the verdict.
* inconclusive: a gating check that applies could not be measured (NaN) or
  is undecided.
* pass: otherwise.

At a target of 100 % the control arm is empty by design. The arm-comparison
checks (staleness, accuracy, p95_latency, first_hit_issue_rate) then compare
the treatment arm of `window` with the control arm of `baseline`, a window
from before the step. Without a baseline they are reported as not applicable
and do not block, and only the treatment arm needs the minimum samples.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from waterfall.metrics import Window, config_metrics, json_value, vendor_error_rates
from waterfall.plan import RolloutPlan
from waterfall.stats import (
    Interval,
    mean_difference_ci,
    proportion_difference_ci,
    sample_ratio_test,
)

# NOTE: resolved from the source tree, because an installed wheel does not ship it.
SUITE_PATH = (
    Path(__file__).resolve().parent.parent / "expectations" / "rollout_gate.json"
)

# Suite parameter name -> (gate in the plan, key under it). The SRM threshold
# is a top-level plan field, so it is filled separately.
SUITE_PARAMETERS = {
    "staleness_max_difference_days": ("staleness", "max_difference_days"),
    "accuracy_min_difference": ("accuracy", "min_difference"),
    "vendor_error_rate_max_rate": ("vendor_error_rate", "max_rate"),
    "cost_per_search_max_ratio_to_forecast": (
        "cost_per_search",
        "max_ratio_to_forecast",
    ),
    "p95_latency_max_ratio": ("p95_latency", "max_ratio"),
    "first_hit_issue_rate_max_difference": ("first_hit_issue_rate", "max_difference"),
}
NAN = float("nan")


@dataclass(frozen=True)
class GateCheck:
    """One gate check: the measured value, its threshold and the outcome.

    `passed` is None when the check does not apply or could not be measured.
    `compared_value` is the number the threshold was applied to (for CI
    checks, the relevant bound).
    """

    name: str
    description: str
    observed: float | None
    ci_low: float | None
    ci_high: float | None
    compared_value: float | None
    threshold: float
    passed: bool | None
    gating: bool
    applicable: bool = True
    detail: str = ""


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate evaluation with every check and sample size."""

    verdict: str
    reason: str
    target_percentage: float
    checks: list[GateCheck]
    sample_sizes: dict[str, int]
    parameters: dict[str, float] = field(default_factory=dict)

    def check(self, name: str) -> GateCheck:
        """Return the check with this gate metric name."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"gate has no check '{name}'")

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON values; NaN and infinity become None."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return json_value(value)


@dataclass(frozen=True)
class _Measurement:
    column: str
    compared: float
    observed: float = NAN
    interval: Interval | None = None
    applicable: bool = True
    detail: str = ""


# ---------------------------------------------------------------- arms


@dataclass(frozen=True)
class _Arm:
    searches: int
    feedback_searches: int
    staleness: np.ndarray
    positives: int
    feedback_points: int
    issues: int
    cost_per_search: float
    latency_p95_ms: float


def _arm(window: Window, metrics: pd.DataFrame, config_name: str) -> _Arm:
    row = metrics.loc[config_name]
    executions = window.executions
    mask = (executions["config_name"] == config_name) & executions["vendor_hit"].notna()
    points = int(row["feedback_points"])
    feedback = int(row["feedback_searches"])
    # The rates are count ratios, so rounding rate x count recovers the count.
    positives = round(row["accuracy"] * points) if points else 0
    issues = round(row["first_hit_issue_rate"] * feedback) if feedback else 0
    return _Arm(
        searches=int(row["searches"]),
        feedback_searches=feedback,
        staleness=executions.loc[mask, "staleness_days"].to_numpy(dtype=float),
        positives=int(positives),
        feedback_points=points,
        issues=int(issues),
        cost_per_search=float(row["cost_per_search"]),
        latency_p95_ms=float(row["latency_p95_ms"]),
    )


def _control_arm(
    window: Window,
    metrics: pd.DataFrame,
    plan: RolloutPlan,
    target: float,
    baseline: Window | None,
) -> _Arm | None:
    if target < 100:
        return _arm(window, metrics, plan.control_config)
    if baseline is None:
        return None
    return _arm(baseline, config_metrics(baseline, plan), plan.control_config)


# ---------------------------------------------------------------- measurements


# Columns of the checks that compare treatment with control.
ARM_COMPARISON_COLUMNS = {
    "staleness": "staleness_diff_ci_high",
    "accuracy": "accuracy_diff_ci_low",
    "p95_latency": "p95_latency_ratio",
    "first_hit_issue_rate": "first_hit_issue_diff_ci_high",
}


def _measure(
    window: Window,
    plan: RolloutPlan,
    treatment: _Arm,
    control: _Arm | None,
    target: float,
) -> dict[str, _Measurement]:
    measurements = {
        "vendor_error_rate": _worst_vendor(window),
        "cost_per_search": _cost_ratio(treatment, plan),
        "sample_ratio": _sample_ratio(window, plan, target),
    }
    if control is not None:
        measurements.update(_compare_arms(plan, treatment, control))
        return measurements
    for name, column in ARM_COMPARISON_COLUMNS.items():
        measurements[name] = _Measurement(
            column,
            NAN,
            applicable=False,
            detail="no control arm at 100 % and no baseline window given",
        )
    return measurements


def _compare_arms(
    plan: RolloutPlan, treatment: _Arm, control: _Arm
) -> dict[str, _Measurement]:
    level = plan.confidence_level
    staleness = mean_difference_ci(treatment.staleness, control.staleness, level)
    accuracy = proportion_difference_ci(
        treatment.positives,
        treatment.feedback_points,
        control.positives,
        control.feedback_points,
        level,
    )
    issues = proportion_difference_ci(
        treatment.issues,
        treatment.feedback_searches,
        control.issues,
        control.feedback_searches,
        level,
    )
    return {
        "staleness": _Measurement(
            "staleness_diff_ci_high", staleness.high, staleness.estimate, staleness
        ),
        "accuracy": _Measurement(
            "accuracy_diff_ci_low", accuracy.low, accuracy.estimate, accuracy
        ),
        "p95_latency": _latency_ratio(treatment, control),
        "first_hit_issue_rate": _Measurement(
            "first_hit_issue_diff_ci_high", issues.high, issues.estimate, issues
        ),
    }


def _worst_vendor(window: Window) -> _Measurement:
    rates = vendor_error_rates(window).dropna(subset=["error_rate"])
    if rates.empty:
        return _Measurement("max_vendor_error_rate", NAN, detail="no vendor calls")
    worst = rates["error_rate"].idxmax()
    row = rates.loc[worst]
    rate = float(row["error_rate"])
    detail = f"worst vendor '{worst}': {int(row['errors'])}/{int(row['calls'])} calls"
    return _Measurement("max_vendor_error_rate", rate, rate, detail=detail)


def _cost_ratio(treatment: _Arm, plan: RolloutPlan) -> _Measurement:
    forecast = plan.threshold("cost_per_search", "forecast_usd")
    ratio = treatment.cost_per_search / forecast if forecast > 0 else NAN
    detail = (
        f"treatment cost per search {treatment.cost_per_search:.4f} USD, "
        f"forecast {forecast:.4f} USD"
    )
    return _Measurement("cost_ratio_to_forecast", ratio, ratio, detail=detail)


def _latency_ratio(treatment: _Arm, control: _Arm) -> _Measurement:
    ratio = (
        treatment.latency_p95_ms / control.latency_p95_ms
        if control.latency_p95_ms > 0
        else NAN
    )
    detail = (
        f"p95 treatment {treatment.latency_p95_ms:.1f} ms, "
        f"control {control.latency_p95_ms:.1f} ms"
    )
    return _Measurement("p95_latency_ratio", ratio, ratio, detail=detail)


def _sample_ratio(window: Window, plan: RolloutPlan, target: float) -> _Measurement:
    # Subjects, not searches, are what routing assigns: searches cluster by
    # subject, so a test on search counts would flag normal traffic as a mismatch.
    primary = window.executions[~window.executions["is_shadow"]]
    counts = primary.drop_duplicates("subject_id")["config_name"].value_counts()
    test = sample_ratio_test(
        int(counts.get(plan.treatment_config, 0)),
        int(counts.get(plan.control_config, 0)),
        target,
    )
    detail = (
        f"treatment share {test.observed_share:.4f} of "
        f"{test.n_treatment + test.n_control} subjects with a primary search, "
        f"target {test.expected_share:.4f}"
    )
    return _Measurement("srm_p_value", test.p_value, test.observed_share, detail=detail)


# ---------------------------------------------------------------- suite


@functools.cache
def _great_expectations() -> Any:
    # Importing great_expectations takes seconds, so only the gate pays it.
    import great_expectations

    return great_expectations


@functools.cache
def load_suite(path: Path) -> dict[str, Any]:
    """Read a suite's JSON definition once per process."""
    return json.loads(path.read_text())


def _suite_definition() -> dict[str, Any]:
    return load_suite(SUITE_PATH)


def suite_parameters(plan: RolloutPlan) -> dict[str, float]:
    """Return the suite parameter values the plan sets."""
    values = {
        name: plan.threshold(gate, key)
        for name, (gate, key) in SUITE_PARAMETERS.items()
    }
    values["srm_p_value_min"] = plan.srm_p_value_min
    return values


def run_suite(
    definition: dict[str, Any],
    values: dict[str, float],
    parameters: dict[str, float],
) -> dict[str, bool]:
    """Validate one row of values with a suite and map each gate metric to success.

    Each expectation's meta must name its `gate_metric`; thresholds in the
    definition are `{"$PARAMETER": name}` filled from `parameters`.
    """
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # Progress bars would write to stderr on every run.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = definition["name"]
    suite = context.suites.add(gx.ExpectationSuite(**copy.deepcopy(definition)))
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(f"{name}_values")
        .add_batch_definition_whole_dataframe("one_row")
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    frame = pd.DataFrame({column: [value] for column, value in values.items()})
    result = validation.run(
        batch_parameters={"dataframe": frame}, expectation_parameters=parameters
    )
    outcomes = {}
    for item in result.results:
        metric = item.expectation_config.meta["gate_metric"]
        if item.exception_info.get("raised_exception"):
            message = item.exception_info.get("exception_message")
            raise RuntimeError(
                f"expectation '{metric}' of suite '{name}' failed to run: {message}"
            )
        outcomes[metric] = bool(item.success)
    return outcomes


# ---------------------------------------------------------------- evaluation


def evaluate_gate(
    window: Window,
    plan: RolloutPlan,
    target_percentage: float,
    baseline: Window | None = None,
) -> GateResult:
    """Evaluate every gate check on a window and return the verdict."""
    metrics = config_metrics(window, plan)
    treatment = _arm(window, metrics, plan.treatment_config)
    control = _control_arm(window, metrics, plan, target_percentage, baseline)
    measurements = _measure(window, plan, treatment, control, target_percentage)
    parameters = suite_parameters(plan)
    successes = run_suite(
        _suite_definition(),
        {m.column: m.compared for m in measurements.values()},
        parameters,
    )
    checks = _checks(plan, measurements, successes, parameters)
    sizes = _sample_sizes(treatment, control)
    verdict, reason = _verdict(plan, checks, treatment, control)
    return GateResult(verdict, reason, target_percentage, checks, sizes, parameters)


def _checks(
    plan: RolloutPlan,
    measurements: dict[str, _Measurement],
    successes: dict[str, bool],
    parameters: dict[str, float],
) -> list[GateCheck]:
    checks = []
    for expectation in _suite_definition()["expectations"]:
        name = expectation["meta"]["gate_metric"]
        bounds = expectation["kwargs"]
        bound = bounds.get("max_value") or bounds.get("min_value")
        measurement = measurements[name]
        # The suite skips missing values, so a NaN would count as a success.
        measured = measurement.applicable and not math.isnan(measurement.compared)
        interval = measurement.interval
        threshold = parameters[bound["$PARAMETER"]]
        passed = successes[name] if measured else None
        detail = measurement.detail
        if passed is False and interval is not None:
            passed, detail = _undecided(
                interval, threshold, "max_value" in bounds, detail
            )
        checks.append(
            GateCheck(
                name=name,
                description=expectation["meta"]["description"],
                observed=measurement.observed,
                ci_low=interval.low if interval else None,
                ci_high=interval.high if interval else None,
                compared_value=measurement.compared,
                threshold=threshold,
                passed=passed,
                gating=plan.is_gating(name),
                applicable=measurement.applicable,
                detail=detail,
            )
        )
    return checks


def _undecided(
    interval: Interval, threshold: float, is_maximum: bool, detail: str
) -> tuple[bool | None, str]:
    """Fail a CI check only when the whole interval is past the threshold.

    The suite tests the bound that must clear the threshold for a pass. When
    that bound misses but the other bound is still on the good side, the
    interval straddles the threshold: the data cannot tell yet, so the check
    is undecided (None) and the gate inconclusive, not failed.
    """
    other = interval.low if is_maximum else interval.high
    clearly_worse = other > threshold if is_maximum else other < threshold
    if clearly_worse:
        return False, detail
    note = (
        f"interval [{interval.low:.4g}, {interval.high:.4g}] spans the threshold "
        f"{threshold:g}: more data needed"
    )
    return None, f"{detail}; {note}" if detail else note


def _sample_sizes(treatment: _Arm, control: _Arm | None) -> dict[str, int]:
    return {
        "treatment_searches": treatment.searches,
        "treatment_feedback_searches": treatment.feedback_searches,
        "control_searches": control.searches if control else 0,
        "control_feedback_searches": control.feedback_searches if control else 0,
    }


FEEDBACK_CHECKS = frozenset({"accuracy", "first_hit_issue_rate"})


def _thin_arms(
    plan: RolloutPlan, treatment: _Arm, control: _Arm | None
) -> tuple[list[str], list[str]]:
    """Return the arms short of searches, and those short of feedback."""
    arms = [("treatment", treatment)]
    if control is not None:
        arms.append(("control", control))
    searches, feedback = [], []
    for label, arm in arms:
        if arm.searches < plan.min_searches_per_arm:
            searches.append(
                f"{label} has {arm.searches} searches "
                f"(minimum {plan.min_searches_per_arm})"
            )
        if arm.feedback_searches < plan.min_feedback_searches_per_arm:
            feedback.append(
                f"{label} has {arm.feedback_searches} feedback-complete searches "
                f"(minimum {plan.min_feedback_searches_per_arm})"
            )
    return searches, feedback


def _verdict(
    plan: RolloutPlan, checks: list[GateCheck], treatment: _Arm, control: _Arm | None
) -> tuple[str, str]:
    thin_searches, thin_feedback = _thin_arms(plan, treatment, control)
    # Feedback arrives days after a search, so thin feedback silences only the
    # checks built on it. An error rate or a split can fail without it.
    silenced = FEEDBACK_CHECKS if thin_feedback else frozenset()
    failed = [
        c.name
        for c in checks
        if c.gating and c.passed is False and c.name not in silenced
    ]
    if thin_searches:
        reason = "too little data: " + "; ".join(thin_searches + thin_feedback)
        if failed:
            reason += f" (failing so far: {', '.join(failed)})"
        return "inconclusive", reason
    if failed:
        return "fail", "failed gating checks: " + ", ".join(failed)
    if thin_feedback:
        return "inconclusive", "too little feedback: " + "; ".join(thin_feedback)
    undecided = [
        c.name for c in checks if c.gating and c.applicable and c.passed is None
    ]
    if undecided:
        return "inconclusive", "not measured or undecided: " + ", ".join(undecided)
    return "pass", "every gating check passed"
