"""Shadow runs beside primary searches: never in the primary's way, billed apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.core.fakes import QUERY, ScriptedAdapter
from vendors.protocol import Outcome, SearchQuery, VendorResponse
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.errors import NotFoundError, RolloutError
from waterfall.recorder import ExecutionRecorder
from waterfall.search import SearchService
from waterfall.settings import Settings
from waterfall.shadow import (
    SHADOW_FAILED,
    SHADOW_TIMEOUT,
    ShadowSwitch,
    get_shadow,
    plan_shadow,
    set_shadow,
)
from waterfall.store import Store
from waterfall.store.models import SearchExecution, VendorCall

ROLLOUT = "optimized-waterfall"
VENDORS = ["Vendor_D", "Vendor_B", "Vendor_A", "Vendor_C", "Cognism", "Vendor_E"]
H, M = Outcome.HIT, Outcome.MISS


class HangingAdapter(ScriptedAdapter):
    """A vendor whose reply waits on an event; a test that never sets it hangs it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()
        self.started = 0

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        self.started += 1
        await self.release.wait()
        return await super().lookup(query)


@dataclass
class Stack:
    store: Store
    service: SearchService
    recorder: ExecutionRecorder
    adapters: dict[str, ScriptedAdapter]
    clock: SimulatedClock

    def switch(self, switch: ShadowSwitch) -> None:
        set_shadow(self.store, ROLLOUT, switch, "test", "test", self.clock.now())

    def rows(self) -> list[SearchExecution]:
        self.recorder.flush()
        with self.store.session() as session:
            return list(session.scalars(select(SearchExecution)))

    def calls(self, execution_id: str) -> list[VendorCall]:
        with self.store.session() as session:
            return list(
                session.scalars(
                    select(VendorCall).where(VendorCall.execution_id == execution_id)
                )
            )


@pytest.fixture
async def stack(store: Store, clock) -> AsyncIterator[Stack]:
    """A search service on the real configs whose vendors are scripted per test."""
    init_store(store, Settings().config_dir, clock.now())
    adapters: dict[str, ScriptedAdapter] = {
        name: ScriptedAdapter(name, M, clock.now(), cost_per_call=0.1)
        for name in VENDORS
    }
    recorder = ExecutionRecorder(store)
    service = SearchService(
        store, adapters, recorder, clock, ROLLOUT, shadow_timeout_s=1.0
    )
    yield Stack(store, service, recorder, adapters, clock)
    for task in list(service.shadow._tasks):
        task.cancel()
    await asyncio.gather(*service.shadow._tasks, return_exceptions=True)
    recorder.close()


def script(stack: Stack, clock, **outcomes: Outcome) -> None:
    for name, outcome in outcomes.items():
        stack.adapters[name].outcome = outcome
        stack.adapters[name]._verified = clock.now()


class TestShadowNeverHarmsPrimary:
    async def test_hanging_shadow_does_not_delay_primary(self, stack, clock) -> None:
        script(stack, clock, Vendor_D=H)
        hanging = HangingAdapter("Cognism", H, clock.now())
        stack.adapters["Cognism"] = hanging
        stack.service._executor._adapters["Cognism"] = hanging
        stack.switch(ShadowSwitch(True, 1.0, 0.0))

        result = await stack.service.search("user-1", QUERY)
        (shadow_task,) = stack.service.shadow._tasks
        for _ in range(10):  # let the shadow reach the hanging vendor
            await asyncio.sleep(0)

        assert result.record.vendor_hit == "Vendor_D"
        assert hanging.started == 1
        assert not shadow_task.done()

    async def test_hanging_shadow_times_out_and_is_counted(self, stack, clock) -> None:
        script(stack, clock, Vendor_D=H)
        hanging = HangingAdapter("Vendor_E", H, clock.now())
        stack.service._executor._adapters["Vendor_E"] = hanging
        stack.service.shadow.timeout_s = 0.05
        stack.switch(ShadowSwitch(True, 1.0, 0.0))

        result = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()
        shadow = [row for row in stack.rows() if row.is_shadow]
        calls = stack.calls(shadow[0].id)

        assert result.record.vendor_hit == "Vendor_D"
        assert stack.service.shadow.stats.timed_out == 1
        assert [row.error_type for row in shadow] == [SHADOW_TIMEOUT]
        assert shadow[0].search_id == result.search_id
        assert [call.vendor for call in calls] == ["Cognism"]
        assert shadow[0].cost == pytest.approx(0.1)

    async def test_failing_shadow_is_counted_not_raised(self, stack, clock) -> None:
        script(stack, clock, Cognism=H)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))

        def missing(config_name: str) -> list[str]:
            raise NotFoundError("waterfall config", config_name, "test")

        stack.service.shadow.vendors_of = missing
        result = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()
        shadow = [row for row in stack.rows() if row.is_shadow]

        assert result.record.vendor_hit == "Cognism"
        assert stack.service.shadow.stats.failed == 1
        assert [row.error_type for row in shadow] == [SHADOW_FAILED]

    async def test_primary_record_same_with_shadow_on(self, stack, clock) -> None:
        script(stack, clock, Vendor_C=H, Cognism=H)
        off = await stack.service.search("user-1", QUERY)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))
        on = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()

        assert stack.service.shadow.stats.completed == 1
        assert on.record.vendor_hit == off.record.vendor_hit == "Vendor_C"
        assert on.record.positions_tried == off.record.positions_tried
        assert on.record.cost == off.record.cost
        assert on.record.is_shadow is False


class TestShadowRecords:
    async def test_pair_is_stored_with_one_search_id(self, stack, clock) -> None:
        script(stack, clock, Cognism=H)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))
        result = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()
        rows = stack.rows()

        assert {row.search_id for row in rows} == {result.search_id}
        assert sorted((row.is_shadow, row.config_name) for row in rows) == [
            (False, "standard"),
            (True, "optimized"),
        ]

    async def test_switch_applies_to_next_search(self, stack, clock) -> None:
        script(stack, clock, Cognism=H)
        await stack.service.search("user-1", QUERY)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))
        await stack.service.search("user-1", QUERY)
        stack.switch(ShadowSwitch(False, 1.0, 0.0))
        await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()

        assert [row.is_shadow for row in stack.rows()].count(True) == 1


class TestReuse:
    async def test_shadow_reuses_finished_primary_call(self, stack, clock) -> None:
        script(stack, clock, Cognism=H)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))
        result = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()
        shadow = next(row for row in stack.rows() if row.is_shadow)
        (call,) = stack.calls(shadow.id)

        assert stack.adapters["Cognism"].calls == 1
        assert call.reused_from == result.record.id
        assert call.cost == 0
        assert call.cost_saved == pytest.approx(0.1)
        assert shadow.cost == 0
        assert shadow.cost_saved == pytest.approx(0.1)
        assert stack.service.shadow.stats.reused_calls == 1

    async def test_shadow_waits_for_in_flight_primary_call(self, stack, clock) -> None:
        script(stack, clock, Vendor_D=H)
        slow = HangingAdapter("Vendor_D", H, clock.now())
        stack.service._executor._adapters["Vendor_D"] = slow
        stack.switch(ShadowSwitch(True, 1.0, 0.0))

        search = asyncio.create_task(stack.service.search("user-1", QUERY))
        for _ in range(50):  # let the shadow walk its misses up to Vendor_D
            await asyncio.sleep(0)
        slow.release.set()
        result = await search
        await stack.service.drain_shadows()
        shadow = next(row for row in stack.rows() if row.is_shadow)
        last = max(stack.calls(shadow.id), key=lambda call: call.position)

        assert slow.started == 1
        assert shadow.vendor_hit == "Vendor_D"
        assert last.reused_from == result.record.id

    async def test_aa_run_makes_its_own_calls(self, stack, clock) -> None:
        script(stack, clock, Cognism=H)
        stack.switch(ShadowSwitch(True, 1.0, 1.0))
        result = await stack.service.search("user-1", QUERY)
        await stack.service.drain_shadows()
        shadow = next(row for row in stack.rows() if row.is_shadow)

        assert shadow.config_name == result.record.config_name
        assert stack.adapters["Cognism"].calls == 2
        assert shadow.cost == pytest.approx(result.record.cost)
        assert shadow.cost_saved == 0


class TestShadowPlan:
    def test_off_switch_plans_nothing(self) -> None:
        assert plan_shadow("s-1", "standard", ShadowSwitch(False)) is None

    def test_share_picks_about_that_share(self) -> None:
        switch = ShadowSwitch(True, 0.3, 0.0)
        planned = [plan_shadow(f"s-{i}", "standard", switch) for i in range(4000)]
        share = sum(plan is not None for plan in planned) / len(planned)
        assert 0.27 < share < 0.33

    def test_shadow_runs_the_other_config(self) -> None:
        switch = ShadowSwitch(True, 1.0, 0.0)
        assert plan_shadow("s-1", "standard", switch).config_name == "optimized"
        assert plan_shadow("s-1", "optimized", switch).config_name == "standard"


class TestShadowSwitch:
    def test_set_then_get_round_trips(self, sqlite_store, clock) -> None:
        init_store(sqlite_store, Settings().config_dir, clock.now())
        old = set_shadow(
            sqlite_store, ROLLOUT, ShadowSwitch(True, 0.5, 0.1), "a", "b", clock.now()
        )
        assert old.enabled is False
        assert get_shadow(sqlite_store, ROLLOUT) == ShadowSwitch(True, 0.5, 0.1)

    def test_share_outside_range_is_rejected(self, sqlite_store, clock) -> None:
        with pytest.raises(RolloutError, match="outside 0..1"):
            set_shadow(
                sqlite_store, ROLLOUT, ShadowSwitch(True, 1.5), "a", "b", clock.now()
            )


class TestShadowAnalysisPairs:
    async def test_pairs_split_ab_aa_and_incomplete(self, stack, clock) -> None:
        from datetime import timedelta

        from waterfall.plan import load_plan
        from waterfall.shadow_analysis import analyse_shadow_window

        script(stack, clock, Cognism=H)
        stack.switch(ShadowSwitch(True, 1.0, 0.0))
        for index in range(4):
            await stack.service.search(f"user-{index}", QUERY)
        stack.switch(ShadowSwitch(True, 1.0, 1.0))
        for index in range(2):
            await stack.service.search(f"user-{index}", QUERY)
        await stack.service.drain_shadows()
        vendors_of = stack.service.shadow.vendors_of

        def missing(config_name: str) -> list[str]:
            raise NotFoundError("waterfall config", config_name, "test")

        stack.service.shadow.vendors_of = missing
        await stack.service.search("user-9", QUERY)
        await stack.service.drain_shadows()
        stack.service.shadow.vendors_of = vendors_of
        stack.recorder.flush()
        plan = load_plan(Settings().config_dir / "rollout_plan.yaml")
        end = clock.now() + timedelta(seconds=1)
        analysis = analyse_shadow_window(
            stack.store, plan, clock.now() - timedelta(days=1), end, as_of=end
        )
        cost = analysis.comparisons["cost_per_search"]

        assert (analysis.ab_pairs, analysis.aa_pairs) == (4, 2)
        assert (analysis.shadowed, analysis.incomplete) == (7, 1)
        assert analysis.comparisons["hit_rate"].difference.estimate == 0
        assert cost.control == pytest.approx(0.5)
        assert cost.treatment == pytest.approx(0.1)
        assert analysis.spend["shadow_calls_reused"] == 4
        assert analysis.spend["shadow_cost_saved"] == pytest.approx(0.4)
