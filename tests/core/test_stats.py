"""Confidence intervals and the sample-ratio test against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from waterfall.stats import (
    mean_difference_ci,
    proportion_difference_ci,
    sample_ratio_test,
    wilson_interval,
)


class TestMeanDifference:
    def test_matches_scipy_welch_interval(self) -> None:
        rng = np.random.default_rng(7)
        first = rng.normal(5, 2, 30)
        second = rng.normal(4, 5, 45)
        expected = stats.ttest_ind(first, second, equal_var=False).confidence_interval(
            0.9
        )
        interval = mean_difference_ci(first, second, 0.9)
        assert interval.low == pytest.approx(expected.low)
        assert interval.high == pytest.approx(expected.high)
        assert interval.estimate == pytest.approx(first.mean() - second.mean())

    def test_reports_sample_sizes(self) -> None:
        interval = mean_difference_ci([1.0, 2.0, float("nan")], [3.0, 4.0, 5.0])
        assert interval.n1 == 2
        assert interval.n2 == 3

    def test_empty_sample_is_nan(self) -> None:
        interval = mean_difference_ci([], [1.0, 2.0])
        assert math.isnan(interval.estimate)
        assert math.isnan(interval.low)

    def test_single_value_has_no_interval(self) -> None:
        interval = mean_difference_ci([1.0], [1.0, 3.0])
        assert interval.estimate == pytest.approx(-1.0)
        assert math.isnan(interval.high)

    def test_constant_samples_give_a_point(self) -> None:
        interval = mean_difference_ci([2.0, 2.0], [1.0, 1.0])
        assert interval.low == 1.0
        assert interval.high == 1.0

    def test_rejects_invalid_level(self) -> None:
        with pytest.raises(ValueError, match="confidence level"):
            mean_difference_ci([1.0, 2.0], [1.0, 2.0], 95)

    def test_coverage_near_nominal(self) -> None:
        rng = np.random.default_rng(11)
        covered = 0
        runs = 2000
        for _ in range(runs):
            interval = mean_difference_ci(rng.normal(1, 1, 15), rng.normal(0, 4, 40))
            covered += interval.low <= 1.0 <= interval.high
        assert 0.93 <= covered / runs <= 0.97


class TestWilson:
    def test_matches_closed_form(self) -> None:
        # Wilson (1927) for 0 of 10 at 95 %: upper bound z^2 / (n + z^2).
        z = stats.norm.ppf(0.975)
        low, high = wilson_interval(0, 10)
        assert low == 0.0
        assert high == pytest.approx(z**2 / (10 + z**2))

    def test_no_trials_is_nan(self) -> None:
        assert all(math.isnan(bound) for bound in wilson_interval(0, 0))


class TestProportionDifference:
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    # NOTE: these bounds were written from memory of that table, not re-read
    # from the paper; the method's formula was checked against a second source.
    @pytest.mark.parametrize(
        ("counts", "low", "high"),
        [
            ((9, 10, 3, 10), 0.1705, 0.8090),
            ((5, 56, 0, 29), -0.0381, 0.1926),
            ((0, 10, 0, 20), -0.1611, 0.2775),
            ((10, 10, 0, 20), 0.6791, 1.0000),
        ],
    )
    def test_matches_newcombe_table(self, counts, low, high) -> None:
        interval = proportion_difference_ci(*counts)
        assert interval.low == pytest.approx(low, abs=5e-5)
        assert interval.high == pytest.approx(high, abs=5e-5)

    def test_estimate_is_difference(self) -> None:
        interval = proportion_difference_ci(56, 70, 48, 80)
        assert interval.estimate == pytest.approx(0.8 - 0.6)

    def test_empty_arm_is_nan(self) -> None:
        interval = proportion_difference_ci(0, 0, 5, 10)
        assert math.isnan(interval.low)

    def test_stays_within_unit_range(self) -> None:
        interval = proportion_difference_ci(3, 3, 0, 3)
        assert interval.high <= 1.0
        assert interval.low >= -1.0

    def test_coverage_near_nominal(self) -> None:
        rng = np.random.default_rng(5)
        truth = 0.3 - 0.2
        runs = 3000
        first = rng.binomial(50, 0.3, runs)
        second = rng.binomial(60, 0.2, runs)
        covered = sum(
            proportion_difference_ci(int(a), 50, int(b), 60).low
            <= truth
            <= proportion_difference_ci(int(a), 50, int(b), 60).high
            for a, b in zip(first, second, strict=True)
        )
        assert 0.93 <= covered / runs <= 0.97


class TestSampleRatio:
    def test_matches_scipy_chisquare(self) -> None:
        expected = stats.chisquare([120, 880], f_exp=[100, 900]).pvalue
        assert sample_ratio_test(120, 880, 10).p_value == pytest.approx(expected)

    def test_even_split_at_ten_percent_fails(self) -> None:
        assert sample_ratio_test(500, 500, 10).p_value < 1e-6

    def test_exact_split_has_p_one(self) -> None:
        test = sample_ratio_test(100, 900, 10)
        assert test.p_value == pytest.approx(1.0)
        assert test.observed_share == pytest.approx(0.1)

    def test_full_rollout_with_no_control(self) -> None:
        assert sample_ratio_test(1000, 0, 100).p_value == 1.0

    def test_full_rollout_with_control_rows(self) -> None:
        assert sample_ratio_test(1000, 3, 100).p_value == 0.0

    def test_no_searches_is_nan(self) -> None:
        assert math.isnan(sample_ratio_test(0, 0, 10).p_value)

    def test_rejects_target_out_of_range(self) -> None:
        with pytest.raises(ValueError, match="outside 0..100"):
            sample_ratio_test(1, 1, 150)


class TestPairedIntervals:
    def test_paired_interval_is_narrower_than_welch(self) -> None:
        from waterfall.stats import mean_difference_ci, paired_difference_ci

        rng = np.random.default_rng(3)
        base = rng.normal(100, 30, 500)
        treated = base - 5 + rng.normal(0, 2, 500)
        paired = paired_difference_ci(treated - base)
        welch = mean_difference_ci(treated, base)
        assert paired.low < -5 < paired.high
        assert paired.high - paired.low < (welch.high - welch.low) / 5

    def test_paired_interval_of_constant_differences_is_a_point(self) -> None:
        from waterfall.stats import paired_difference_ci

        interval = paired_difference_ci([2.0, 2.0, 2.0])
        assert (interval.low, interval.high) == (2.0, 2.0)

    def test_quantile_interval_covers_a_shift(self) -> None:
        from waterfall.stats import paired_quantile_difference_ci

        rng = np.random.default_rng(4)
        base = rng.lognormal(6, 0.5, 2000)
        interval = paired_quantile_difference_ci(base + 50, base, 0.95, seed=1)
        assert interval.estimate == pytest.approx(50)
        assert interval.low <= 50 <= interval.high

    def test_quantile_interval_rejects_unpaired_samples(self) -> None:
        from waterfall.stats import paired_quantile_difference_ci

        with pytest.raises(ValueError, match="differ in length"):
            paired_quantile_difference_ci([1.0, 2.0], [1.0], 0.5)
