"""The executor with a breaker: skip without calling, fall through, record the skip."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.breaker.conftest import RULE
from tests.core.fakes import QUERY, ScriptedAdapter
from vendors.protocol import Outcome, SearchQuery, VendorResponse
from waterfall.breaker.breaker import CircuitBreaker
from waterfall.breaker.rule import State
from waterfall.breaker.stores import MemoryBreakerStore
from waterfall.executor import WaterfallExecutor
from waterfall.logging import configure_logging
from waterfall.routing import route

H, M, E = Outcome.HIT, Outcome.MISS, Outcome.SERVER_ERROR


class RateLimitedAdapter(ScriptedAdapter):
    """A scripted adapter that returns 429 with a Retry-After of `retry_after_s`."""

    def __init__(self, name: str, now, retry_after_s: float) -> None:
        super().__init__(name, Outcome.RATE_LIMITED, now)
        self.retry_after_s = retry_after_s

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        self.calls += 1
        return VendorResponse(
            self.name, Outcome.RATE_LIMITED, 1.0, 429, retry_after_s=self.retry_after_s
        )


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker(MemoryBreakerStore(clock), replace(RULE, min_calls=4))


async def search(adapters, breaker: CircuitBreaker, clock):
    executor = WaterfallExecutor(adapters, clock, gate=breaker)
    decision = route("salt", "user-1", 0)
    return await executor.execute(list(adapters), QUERY, decision, "standard", "salt")


def scripted(clock, *outcomes: Outcome) -> dict[str, ScriptedAdapter]:
    return {
        f"V{i}": ScriptedAdapter(f"V{i}", outcome, clock.now())
        for i, outcome in enumerate(outcomes, 1)
    }


class TestExecutorWithBreaker:
    async def test_errors_open_the_breaker(self, breaker, clock) -> None:
        adapters = scripted(clock, E, H)
        for _ in range(4):
            await search(adapters, breaker, clock)
        assert breaker.status(["V1"])[0].state is State.OPEN

    async def test_open_vendor_is_skipped_for_next(self, breaker, clock) -> None:
        adapters = scripted(clock, E, H)
        for _ in range(4):
            await search(adapters, breaker, clock)
        result = await search(adapters, breaker, clock)
        assert adapters["V1"].calls == 4
        assert result.record.vendor_hit == "V2"
        assert result.record.positions_tried == [2]
        skipped = result.record.calls[0]
        assert (skipped.vendor, skipped.outcome) == ("V1", "skipped")
        assert skipped.error_type == "breaker_open"
        assert skipped.cost == 0.0
        assert result.record.error_occurred is False

    async def test_skips_are_not_health_signals(self, breaker, clock) -> None:
        adapters = scripted(clock, E, H)
        for _ in range(4):
            await search(adapters, breaker, clock)
        before = breaker.status(["V1"])[0].calls_in_window
        for _ in range(5):
            await search(adapters, breaker, clock)
        assert breaker.status(["V1"])[0].calls_in_window == before

    async def test_skip_is_logged(self, breaker, clock) -> None:
        adapters = scripted(clock, E, H)
        for _ in range(4):
            await search(adapters, breaker, clock)
        stream = io.StringIO()
        configure_logging("INFO", json=True, stream=stream)
        try:
            await search(adapters, breaker, clock)
        finally:
            configure_logging()
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        skips = [e for e in events if e["event"] == "executor.vendor_skipped"]
        assert skips[0]["vendor"] == "V1"
        assert skips[0]["breaker_state"] == "OPEN"

    async def test_402_takes_vendor_out(self, breaker, clock) -> None:
        adapters = scripted(clock, Outcome.OUT_OF_CREDIT, H)
        await search(adapters, breaker, clock)
        clock.advance(timedelta(days=1))
        result = await search(adapters, breaker, clock)
        assert adapters["V1"].calls == 1
        assert result.record.calls[0].error_type == "breaker_out_of_credit"
        assert breaker.status(["V1"])[0].state is State.OUT_OF_CREDIT

    async def test_429_skips_until_reset_time(self, breaker, clock) -> None:
        limited = RateLimitedAdapter("RL", clock.now(), retry_after_s=20)
        adapters = {"RL": limited, "V2": ScriptedAdapter("V2", H, clock.now())}
        await search(adapters, breaker, clock)
        clock.advance(timedelta(seconds=19))
        skipped = await search(adapters, breaker, clock)
        clock.advance(timedelta(seconds=1))
        await search(adapters, breaker, clock)
        assert skipped.record.calls[0].error_type == "breaker_rate_limited"
        assert skipped.record.vendor_hit == "V2"
        assert limited.calls == 2

    async def test_every_vendor_open_returns_nothing(self, breaker, clock) -> None:
        adapters = scripted(clock, E, E)
        for _ in range(4):
            await search(adapters, breaker, clock)
        result = await search(adapters, breaker, clock)
        assert result.profile is None
        assert result.record.positions_tried == []
        assert [c.outcome for c in result.record.calls] == ["skipped", "skipped"]
