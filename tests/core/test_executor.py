"""The waterfall executor: order, fall-through, skips, cost and the record."""

from __future__ import annotations

import pytest

from tests.core.fakes import QUERY, ScriptedAdapter
from vendors.protocol import Outcome
from waterfall.executor import WaterfallExecutor
from waterfall.routing import route

H, M, E = Outcome.HIT, Outcome.MISS, Outcome.SERVER_ERROR


async def run(clock, outcomes: list[Outcome], skip: set[str] = frozenset()):
    adapters = {
        f"V{i}": ScriptedAdapter(f"V{i}", o, clock.now())
        for i, o in enumerate(outcomes, 1)
    }
    executor = WaterfallExecutor(adapters, clock, should_skip=lambda v: v in skip)
    decision = route("salt", "user-1", 0)
    result = await executor.execute(list(adapters), QUERY, decision, "standard", "salt")
    return result, adapters


class TestWaterfallExecutor:
    async def test_first_hit_stops_the_waterfall(self, clock) -> None:
        result, adapters = await run(clock, [H, H, H])
        assert result.record.position_hit == 1
        assert adapters["V2"].calls == 0

    async def test_miss_falls_through(self, clock) -> None:
        result, _ = await run(clock, [M, M, H])
        assert result.record.positions_tried == [1, 2, 3]
        assert result.record.vendor_hit == "V3"

    async def test_error_falls_through_and_is_flagged(self, clock) -> None:
        result, _ = await run(clock, [E, H])
        assert result.record.vendor_hit == "V2"
        assert result.record.error_occurred is True
        assert result.record.error_type == "http_503"

    async def test_all_miss_returns_no_profile(self, clock) -> None:
        result, _ = await run(clock, [M, M])
        assert result.profile is None
        assert result.record.error_occurred is False
        assert result.record.result_count == 0

    async def test_skipped_vendor_is_not_called(self, clock) -> None:
        result, adapters = await run(clock, [H, H], skip={"V1"})
        assert adapters["V1"].calls == 0
        assert result.record.position_hit == 2
        assert result.record.calls[0].outcome == "skipped"

    async def test_cost_bills_answered_calls_only(self, clock) -> None:
        result, _ = await run(clock, [M, E, H])
        assert result.record.cost == pytest.approx(0.2)

    async def test_staleness_is_days_since_verification(self, clock) -> None:
        result, _ = await run(clock, [H])
        assert result.record.staleness_days == pytest.approx(10)

    async def test_record_holds_no_contact_data(self, clock) -> None:
        result, _ = await run(clock, [H])
        text = repr(result.record)
        assert "jane.doe@example.com" not in text
        assert "Jane" not in text
        assert result.record.has_email is True


class BrokenAdapter(ScriptedAdapter):
    """An adapter with a bug: it raises instead of returning an outcome."""

    async def lookup(self, query):
        raise RecursionError("maximum recursion depth exceeded")


class TestVendorFaultsNeverFailSearch:
    async def test_raising_adapter_falls_through(self, clock) -> None:
        adapters = {
            "V1": BrokenAdapter("V1", Outcome.HIT, clock.now()),
            "V2": ScriptedAdapter("V2", Outcome.HIT, clock.now()),
        }
        executor = WaterfallExecutor(adapters, clock)
        result = await executor.execute(
            ["V1", "V2"], QUERY, route("s", "u", 0), "c", "s"
        )
        assert result.record.vendor_hit == "V2"
        assert result.record.error_type == "adapter_RecursionError"

    async def test_profile_verified_in_future_falls_through(self, clock) -> None:
        adapters = {
            "V1": ScriptedAdapter("V1", Outcome.HIT, clock.now(), age_days=-30),
            "V2": ScriptedAdapter("V2", Outcome.HIT, clock.now()),
        }
        executor = WaterfallExecutor(adapters, clock)
        result = await executor.execute(
            ["V1", "V2"], QUERY, route("s", "u", 0), "c", "s"
        )
        assert result.record.vendor_hit == "V2"
        assert result.record.calls[0].error_type == "verified_in_future"
