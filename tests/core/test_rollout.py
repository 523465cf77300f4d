"""Rollout operations: percentage changes, history, rollback and step order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from waterfall.bootstrap import init_store, plan_from
from waterfall.errors import RolloutError, StepOrderError
from waterfall.rollout import begin_step, record_decision, rollback, set_percentage
from waterfall.settings import Settings
from waterfall.store import Store
from waterfall.store import repository as repo

PLAN = plan_from(Settings().config_dir)
NAME = PLAN.rollout_name


@pytest.fixture
def ready(store: Store, clock) -> Store:
    init_store(store, Settings().config_dir, clock.now())
    return store


class TestPercentage:
    def test_change_is_kept_with_who_and_why(self, ready: Store, clock) -> None:
        set_percentage(ready, NAME, 25, "alice", "first look", clock.now())
        with ready.session() as session:
            latest = repo.rollout_history(session, NAME)[0]
            current = repo.get_percentage(session, NAME)
        assert current == 25
        assert (latest.old_percentage, latest.changed_by, latest.reason) == (
            0,
            "alice",
            "first look",
        )

    def test_reason_is_required(self, ready: Store, clock) -> None:
        with pytest.raises(RolloutError, match="reason is required"):
            set_percentage(ready, NAME, 25, "alice", "  ", clock.now())

    def test_out_of_range_is_rejected(self, ready: Store, clock) -> None:
        with pytest.raises(RolloutError, match="outside 0..100"):
            set_percentage(ready, NAME, 101, "alice", "typo", clock.now())


class TestSteps:
    def test_step_needs_previous_step_approved(self, ready: Store, clock) -> None:
        with pytest.raises(StepOrderError, match="previous step 10% is never run"):
            begin_step(ready, PLAN, 25, clock.now(), "bob")

    def test_force_overrides_step_order(self, ready: Store, clock) -> None:
        stage = begin_step(ready, PLAN, 25, clock.now(), "bob", force=True)
        assert stage.status == "monitoring"
        assert stage.window_end - stage.window_start == timedelta(
            days=PLAN.monitoring_window_days
        )

    def test_rerun_returns_the_open_stage(self, ready: Store, clock) -> None:
        first = begin_step(ready, PLAN, 10, clock.now(), "bob")
        again = begin_step(ready, PLAN, 10, clock.now(), "bob")
        assert again.id == first.id

    def test_approved_step_unlocks_next(self, ready: Store, clock) -> None:
        stage = begin_step(ready, PLAN, 10, clock.now(), "bob")
        record_decision(ready, stage.id, "approved", "approve", "pm", "ok", clock.now())
        nxt = begin_step(ready, PLAN, 25, clock.now(), "bob")
        with ready.session() as session:
            assert repo.get_percentage(session, NAME) == 25
        assert nxt.percentage == 25

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_rollback_needs_a_reason(self, ready: Store, clock, reason: str) -> None:
        with pytest.raises(RolloutError, match="reason is required"):
            rollback(ready, NAME, "oncall", reason, clock.now())

    def test_rollback_closes_open_stage_and_restarts_plan(
        self, ready: Store, clock
    ) -> None:
        stage = begin_step(ready, PLAN, 10, clock.now(), "bob")
        record_decision(ready, stage.id, "approved", "approve", "pm", "ok", clock.now())
        begin_step(ready, PLAN, 25, clock.now(), "bob")
        clock.advance(timedelta(hours=1))
        closed = rollback(ready, NAME, "oncall", "bounces up", clock.now())
        clock.advance(timedelta(hours=1))
        with ready.session() as session:
            assert repo.get_percentage(session, NAME) == 0
            assert repo.latest_stage(session, NAME, 25).status == "rolled_back"
        assert [stage.percentage for stage in closed] == [25]
        with pytest.raises(StepOrderError):
            begin_step(ready, PLAN, 25, clock.now(), "bob")
