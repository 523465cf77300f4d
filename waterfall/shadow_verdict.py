"""Turn a shadow analysis into go, no-go or "sample too small".

The values the checks compare (interval bounds, ratios, rates) are validated
with the Great Expectations suite in expectations/shadow_go_no_go.json,
through the same machinery as the rollout gate. Its thresholds are suite
parameters filled from config/shadow_analysis.yaml.

Verdict rules, in order:

* sample too small: fewer A/B pairs than `min_paired_searches`, or a check
  that applies could not be measured (for example, no feedback yet to
  estimate accuracy). Thin data never recommends anything.
* no-go: a check failed; the verdict names each and by how much.
* go: every check that applies passed. The A/A check applies only with at
  least `min_aa_pairs` A/A pairs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from waterfall.catalog import read_yaml
from waterfall.errors import ConfigError
from waterfall.gate import GateCheck, load_suite, run_suite
from waterfall.metrics import json_value
from waterfall.shadow_analysis import ShadowAnalysis

SUITE_PATH = (
    Path(__file__).resolve().parent.parent / "expectations" / "shadow_go_no_go.json"
)
GO, NO_GO, SAMPLE_TOO_SMALL = "go", "no-go", "sample too small"
NAN = float("nan")


class ShadowCriteria(BaseModel):
    """Sample sizes and thresholds of the shadow go/no-go decision."""

    min_paired_searches: int = Field(ge=1)
    min_aa_pairs: int = Field(ge=1)
    confidence_level: float = Field(gt=0, lt=1)
    bootstrap_resamples: int = Field(ge=50)
    projection_days: float = Field(gt=0)
    thresholds: dict[str, float]


def load_criteria(path: Path) -> ShadowCriteria:
    """Load and validate config/shadow_analysis.yaml."""
    try:
        criteria = ShadowCriteria.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path} is invalid:\n{exc}") from exc
    needed = _parameter_names()
    missing = sorted(needed - criteria.thresholds.keys())
    if missing:
        raise ConfigError(
            f"{path}: thresholds {', '.join(missing)} are missing: add them under "
            "thresholds, one per parameter of expectations/shadow_go_no_go.json"
        )
    return criteria


def _parameter_names() -> set[str]:
    names = set()
    for expectation in load_suite(SUITE_PATH)["expectations"]:
        bounds = expectation["kwargs"]
        bound = bounds.get("max_value") or bounds.get("min_value")
        names.add(bound["$PARAMETER"])
    return names


@dataclass(frozen=True)
class ShadowVerdict:
    """The recommendation, its reason and every check with its margin."""

    verdict: str
    reason: str
    checks: list[GateCheck]
    failed: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON values; NaN becomes None."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "checks": [
                {key: json_value(value) for key, value in asdict(check).items()}
                for check in self.checks
            ],
            "failed": self.failed,
        }


@dataclass(frozen=True)
class _Value:
    compared: float
    observed: float
    interval: tuple[float, float] | None = None
    applicable: bool = True
    detail: str = ""


def _values(analysis: ShadowAnalysis, criteria: ShadowCriteria) -> dict[str, _Value]:
    """Derive the compared value of each gate metric from the analysis."""
    comparisons = analysis.comparisons
    values = {}
    for metric, bound in (
        ("staleness", "high"),
        ("accuracy", "low"),
        ("first_hit_issue_rate", "high"),
        ("hit_rate", "low"),
    ):
        interval = comparisons[metric].difference
        values[metric] = _Value(
            getattr(interval, bound),
            interval.estimate,
            (interval.low, interval.high),
        )
    latency = comparisons["latency_p95"]
    values["p95_latency"] = _Value(
        analysis.ratio("latency_p95"),
        analysis.ratio("latency_p95"),
        detail=f"p95 {latency.treatment:.0f} ms against {latency.control:.0f} ms",
    )
    cost = comparisons["cost_per_search"]
    values["cost_per_search"] = _Value(
        analysis.ratio("cost_per_search"),
        analysis.ratio("cost_per_search"),
        detail=f"{cost.treatment:.4f} USD against {cost.control:.4f} USD per search",
    )
    values["vendor_error_rate"] = _worst_vendor(analysis)
    values["shadow_incomplete"] = _Value(
        analysis.incomplete_rate,
        analysis.incomplete_rate,
        detail=f"{analysis.incomplete} of {analysis.shadowed} shadow runs",
    )
    enough_aa = analysis.aa_pairs >= criteria.min_aa_pairs
    values["aa_noise"] = _Value(
        analysis.aa_hit_discordance if enough_aa else NAN,
        analysis.aa_hit_discordance,
        applicable=enough_aa,
        detail=f"{analysis.aa_pairs} A/A pairs (check needs {criteria.min_aa_pairs})",
    )
    return values


def _worst_vendor(analysis: ShadowAnalysis) -> _Value:
    if analysis.max_vendor_error is None:
        return _Value(NAN, NAN, detail="no vendor calls")
    vendor, rate, errors, calls = analysis.max_vendor_error
    return _Value(rate, rate, detail=f"worst vendor '{vendor}': {errors}/{calls} calls")


def decide(analysis: ShadowAnalysis, criteria: ShadowCriteria) -> ShadowVerdict:
    """Validate the analysis with the suite and return the recommendation."""
    suite = load_suite(SUITE_PATH)
    values = _values(analysis, criteria)
    columns = {
        item["meta"]["gate_metric"]: item["kwargs"]["column"]
        for item in suite["expectations"]
    }
    successes = run_suite(
        suite,
        {columns[name]: value.compared for name, value in values.items()},
        criteria.thresholds,
    )
    checks = [
        _check(expectation, values, successes, criteria)
        for expectation in suite["expectations"]
    ]
    verdict, reason, failed = _verdict(analysis, criteria, checks)
    return ShadowVerdict(verdict, reason, checks, failed)


def _check(
    expectation: dict[str, Any],
    values: dict[str, _Value],
    successes: dict[str, bool],
    criteria: ShadowCriteria,
) -> GateCheck:
    name = expectation["meta"]["gate_metric"]
    bounds = expectation["kwargs"]
    is_maximum = "max_value" in bounds
    parameter = (bounds.get("max_value") or bounds.get("min_value"))["$PARAMETER"]
    threshold = criteria.thresholds[parameter]
    value = values[name]
    # The suite skips missing values, so a NaN would count as a success.
    measured = value.applicable and not math.isnan(value.compared)
    passed = successes[name] if measured else None
    detail = value.detail
    if passed is False:
        margin = (
            value.compared - threshold if is_maximum else threshold - value.compared
        )
        side = "above the maximum" if is_maximum else "below the minimum"
        detail = f"{detail}; {margin:.4g} {side} {threshold:g}".lstrip("; ")
    low, high = value.interval if value.interval else (None, None)
    return GateCheck(
        name=name,
        description=expectation["meta"]["description"],
        observed=value.observed,
        ci_low=low,
        ci_high=high,
        compared_value=value.compared,
        threshold=threshold,
        passed=passed,
        gating=True,
        applicable=value.applicable,
        detail=detail,
    )


def _verdict(
    analysis: ShadowAnalysis, criteria: ShadowCriteria, checks: list[GateCheck]
) -> tuple[str, str, list[dict[str, Any]]]:
    if analysis.ab_pairs < criteria.min_paired_searches:
        return (
            SAMPLE_TOO_SMALL,
            f"{analysis.ab_pairs} paired searches; at least "
            f"{criteria.min_paired_searches} are needed before recommending",
            [],
        )
    failed = [
        {
            "name": c.name,
            "compared_value": json_value(c.compared_value),
            "threshold": c.threshold,
            "detail": c.detail,
        }
        for c in checks
        if c.passed is False
    ]
    if failed:
        names = ", ".join(item["name"] for item in failed)
        return NO_GO, f"failed checks: {names}", failed
    unmeasured = [c.name for c in checks if c.applicable and c.passed is None]
    if unmeasured:
        return (
            SAMPLE_TOO_SMALL,
            "not measurable yet: " + ", ".join(unmeasured),
            [],
        )
    return GO, "every check passed", []
