"""Hash routing: stable, uniform, and monotonic in the rollout percentage."""

from __future__ import annotations

import pytest
from scipy import stats

from waterfall.routing import OPTIMIZED, STANDARD, bucket, route

SALT = "optimized-waterfall"
SUBJECTS = [f"user-{n}" for n in range(100_000)]


@pytest.fixture(scope="module")
def buckets() -> list[float]:
    return [bucket(SALT, subject) for subject in SUBJECTS]


class TestRouting:
    def test_zero_percent_sends_everyone_to_standard(self) -> None:
        configs = {route(SALT, s, 0).config_name for s in SUBJECTS[:20_000]}
        assert configs == {STANDARD}

    def test_hundred_percent_sends_everyone_to_optimized(self) -> None:
        configs = {route(SALT, s, 100).config_name for s in SUBJECTS[:20_000]}
        assert configs == {OPTIMIZED}

    def test_fifty_percent_splits_evenly(self, buckets: list[float]) -> None:
        optimized = sum(1 for b in buckets if b < 50)
        # Binomial(100,000, 0.5): sd 158; 4 sd is a false alarm once in 15,000 runs.
        assert abs(optimized - 50_000) < 4 * 158

    def test_buckets_are_uniform(self, buckets: list[float]) -> None:
        counts = [0] * 100
        for value in buckets:
            counts[int(value)] += 1
        result = stats.chisquare(counts)
        assert result.pvalue > 0.001

    def test_same_subject_always_gets_same_config(self) -> None:
        first = [route(SALT, s, 37).config_name for s in SUBJECTS[:5_000]]
        again = [route(SALT, s, 37).config_name for s in SUBJECTS[:5_000]]
        assert first == again

    def test_raising_percentage_never_moves_anyone_back(
        self, buckets: list[float]
    ) -> None:
        steps = [0, 10, 25, 50, 75, 100]
        for low, high in zip(steps, steps[1:], strict=False):
            moved_back = [b for b in buckets if b < low and not b < high]
            assert moved_back == [], (
                f"subjects left optimized between {low}% and {high}%"
            )

    def test_salt_changes_assignment(self) -> None:
        same = sum(
            1
            for s in SUBJECTS[:10_000]
            if (bucket(SALT, s) < 50) == (bucket("another-rollout", s) < 50)
        )
        assert 4_600 < same < 5_400

    def test_bucket_is_in_range(self, buckets: list[float]) -> None:
        assert min(buckets) >= 0
        assert max(buckets) < 100

    def test_decision_states_its_reason(self) -> None:
        decision = route(SALT, "user-1", 100)
        assert "< rollout 100%" in decision.reason

    @pytest.mark.parametrize("percentage", [-1, 100.5])
    def test_percentage_outside_range_is_rejected(self, percentage: float) -> None:
        with pytest.raises(ValueError, match="outside 0..100"):
            route(SALT, "user-1", percentage)
