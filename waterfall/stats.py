"""Confidence intervals for treatment-minus-control differences, and the SRM test.

Every interval is two-sided at `level`. Differences are always sample 1 minus
sample 2, which the gate passes as treatment minus control. An interval that
cannot be computed (an empty sample, or fewer than two values for a variance)
has NaN bounds instead of raising, so a thin arm shows up as "undefined".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = float("nan")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    level: float
    n1: int
    n2: int


@dataclass(frozen=True)
class SampleRatioTest:
    """A chi-square sample-ratio-mismatch test of the treatment share."""

    observed_share: float
    expected_share: float
    statistic: float
    p_value: float
    n_treatment: int
    n_control: int


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"confidence level {level} must be in (0, 1), e.g. 0.95")


def mean_difference_ci(
    sample1: Sequence[float] | np.ndarray,
    sample2: Sequence[float] | np.ndarray,
    level: float = 0.95,
) -> Interval:
    """Compute Welch's t interval for mean(sample1) - mean(sample2).

    NaN values are dropped first. With fewer than two values in either sample
    the bounds are NaN. With zero variance in both, the interval is the point.
    """
    _check_level(level)
    first = np.asarray(sample1, dtype=float)
    second = np.asarray(sample2, dtype=float)
    first = first[~np.isnan(first)]
    second = second[~np.isnan(second)]
    n1, n2 = len(first), len(second)
    if n1 == 0 or n2 == 0:
        return Interval(NAN, NAN, NAN, level, n1, n2)
    estimate = float(first.mean() - second.mean())
    if n1 < 2 or n2 < 2:
        return Interval(estimate, NAN, NAN, level, n1, n2)

    var1 = float(first.var(ddof=1)) / n1
    var2 = float(second.var(ddof=1)) / n2
    standard_error = math.sqrt(var1 + var2)
    if standard_error == 0:
        return Interval(estimate, estimate, estimate, level, n1, n2)
    # Welch-Satterthwaite degrees of freedom.
    dof = (var1 + var2) ** 2 / (var1**2 / (n1 - 1) + var2**2 / (n2 - 1))
    margin = float(stats.t.ppf(0.5 + level / 2, dof)) * standard_error
    return Interval(estimate, estimate - margin, estimate + margin, level, n1, n2)


def paired_difference_ci(
    differences: Sequence[float] | np.ndarray, level: float = 0.95
) -> Interval:
    """Compute the t interval for the mean of paired differences.

    Each difference is sample 1 minus sample 2 of one pair, so n1 = n2 = the
    number of pairs. NaN differences are dropped. Pairing removes what the
    two members share (the same candidate, the same reused vendor replies),
    so the interval is narrower than Welch's on the same data.
    """
    _check_level(level)
    values = np.asarray(differences, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return Interval(NAN, NAN, NAN, level, 0, 0)
    estimate = float(values.mean())
    if n < 2:
        return Interval(estimate, NAN, NAN, level, n, n)
    standard_error = float(values.std(ddof=1)) / math.sqrt(n)
    if standard_error == 0:
        return Interval(estimate, estimate, estimate, level, n, n)
    margin = float(stats.t.ppf(0.5 + level / 2, n - 1)) * standard_error
    return Interval(estimate, estimate - margin, estimate + margin, level, n, n)


def paired_quantile_difference_ci(
    sample1: Sequence[float] | np.ndarray,
    sample2: Sequence[float] | np.ndarray,
    quantile: float,
    level: float = 0.95,
    resamples: int = 400,
    seed: int = 0,
) -> Interval:
    """Bootstrap a percentile interval for quantile(sample1) - quantile(sample2).

    The samples are paired element by element, and each resample draws whole
    pairs. The seed makes the interval repeatable for the same data.
    """
    _check_level(level)
    first = np.asarray(sample1, dtype=float)
    second = np.asarray(sample2, dtype=float)
    if len(first) != len(second):
        raise ValueError(
            f"paired samples differ in length ({len(first)} and {len(second)})"
        )
    n = len(first)
    if n == 0:
        return Interval(NAN, NAN, NAN, level, 0, 0)
    estimate = float(np.quantile(first, quantile) - np.quantile(second, quantile))
    if n < 2:
        return Interval(estimate, NAN, NAN, level, n, n)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    spread = np.quantile(first[picks], quantile, axis=1) - np.quantile(
        second[picks], quantile, axis=1
    )
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), level, n, n)


def wilson_interval(
    successes: int, trials: int, level: float = 0.95
) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) of one proportion."""
    _check_level(level)
    if trials <= 0:
        return NAN, NAN
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} must be between 0 and {trials}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = successes / trials
    denominator = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / denominator
    half_width = (
        z
        * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2))
        / denominator
    )
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def proportion_difference_ci(
    successes1: int, trials1: int, successes2: int, trials2: int, level: float = 0.95
) -> Interval:
    """Compute Newcombe's hybrid score interval for p1 - p2.

    This is method 10 of Newcombe (1998), "Interval estimation for the
    difference between independent proportions", Statistics in Medicine 17:
    each proportion gets a Wilson interval and the two are combined. Unlike
    the Wald interval it stays inside [-1, 1] and keeps its coverage near 0
    or 1. An empty sample gives NaN bounds.
    """
    _check_level(level)
    if trials1 <= 0 or trials2 <= 0:
        return Interval(NAN, NAN, NAN, level, max(trials1, 0), max(trials2, 0))
    share1 = successes1 / trials1
    share2 = successes2 / trials2
    low1, high1 = wilson_interval(successes1, trials1, level)
    low2, high2 = wilson_interval(successes2, trials2, level)
    estimate = share1 - share2
    low = estimate - math.sqrt((share1 - low1) ** 2 + (high2 - share2) ** 2)
    high = estimate + math.sqrt((high1 - share1) ** 2 + (share2 - low2) ** 2)
    return Interval(estimate, low, high, level, trials1, trials2)


def sample_ratio_test(
    n_treatment: int, n_control: int, target_percentage: float
) -> SampleRatioTest:
    """Test the observed treatment share against the target with a chi-square.

    At a target of 0 % or 100 % one arm is empty by design, where the
    chi-square is undefined: the p-value is then 1.0 when the other arm is
    empty too and 0.0 when any search landed there. No searches at all give
    a NaN p-value.
    """
    if not 0 <= target_percentage <= 100:
        raise ValueError(f"target percentage {target_percentage} is outside 0..100")
    total = n_treatment + n_control
    expected_share = target_percentage / 100
    if total == 0:
        return SampleRatioTest(NAN, expected_share, NAN, NAN, 0, 0)
    observed_share = n_treatment / total
    if expected_share in (0.0, 1.0):
        misrouted = n_treatment if expected_share == 0.0 else n_control
        p_value = 1.0 if misrouted == 0 else 0.0
        statistic = 0.0 if misrouted == 0 else math.inf
        return SampleRatioTest(
            observed_share, expected_share, statistic, p_value, n_treatment, n_control
        )

    expected = [total * expected_share, total * (1 - expected_share)]
    result = stats.chisquare([n_treatment, n_control], f_exp=expected)
    return SampleRatioTest(
        observed_share,
        expected_share,
        float(result.statistic),
        float(result.pvalue),
        n_treatment,
        n_control,
    )
