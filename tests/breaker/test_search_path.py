"""The real search path: build_stack wires the breaker between service and vendors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.breaker.helpers import Listener
from vendors.protocol import SearchQuery
from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.bootstrap import init_store
from waterfall.breaker.rule import State
from waterfall.runtime import Runtime
from waterfall.service import SearchStack, build_stack
from waterfall.settings import Settings
from waterfall.store import repository as repo
from waterfall.store.models import VendorCall

FIRST = "Vendor_D"  # position 1 of the "standard" config, where everyone is at 0 %


@pytest.fixture
def runtime(tmp_path: Path, clock) -> Iterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'w.db'}",
        vendor_timeout_s=2.0,
        breaker_min_calls=5,
        redis_url=None,
    )
    built = Runtime.from_settings(settings, clock)
    init_store(built.store, settings.config_dir, clock.now())
    yield built
    built.store.dispose()


@pytest.fixture
def simulator(runtime: Runtime) -> Iterator[SimulatorServer]:
    profiles = load_profiles(runtime.settings.config_dir / "simulator_profiles.yaml")
    with SimulatorServer(profiles, 7, runtime.clock, latency_scale=0) as server:
        yield server


async def run_searches(stack: SearchStack, count: int) -> list:
    results = []
    for i in range(count):
        query = SearchQuery(f"cand-{i}", "Ana", "Chen", "acme.io")
        results.append(await stack.service.search(f"user-{i}", query))
    return results


class TestSearchPath:
    async def test_build_stack_opens_and_skips(self, runtime, simulator) -> None:
        simulator.set_fault(FIRST, "server_error")
        listener = Listener()
        stack = build_stack(runtime, simulator.base_url, breaker_listeners=[listener])
        await run_searches(stack, 5)
        later = await run_searches(stack, 3)
        await stack.aclose()

        assert stack.breaker is not None
        assert stack.breaker.status([FIRST])[0].state is State.OPEN
        assert (FIRST, "CLOSED", "OPEN") in [
            (t.vendor, t.from_state.value, t.to_state.value)
            for t in listener.transitions
        ]
        assert all(r.record.calls[0].outcome == "skipped" for r in later)
        with runtime.store.session() as session:
            stored = repo.breaker_transitions(session, FIRST)
            skipped = session.scalars(
                select(VendorCall).where(
                    VendorCall.vendor == FIRST, VendorCall.outcome == "skipped"
                )
            ).all()
        assert stored[0].to_state == "OPEN"
        assert len(skipped) == 3
        assert all(call.cost == 0 for call in skipped)

    async def test_out_of_credit_vendor_leaves_waterfall(
        self, runtime, simulator
    ) -> None:
        simulator.set_fault(FIRST, "out_of_credit")
        stack = build_stack(runtime, simulator.base_url)
        results = await run_searches(stack, 3)
        await stack.aclose()

        assert results[0].record.calls[0].outcome == "out_of_credit"
        assert results[1].record.calls[0].error_type == "breaker_out_of_credit"
        assert stack.breaker is not None
        assert stack.breaker.status([FIRST])[0].state is State.OUT_OF_CREDIT

    async def test_breaker_can_be_disabled(self, runtime, simulator) -> None:
        stack = build_stack(runtime, simulator.base_url, with_breaker=False)
        await stack.aclose()
        assert stack.breaker is None
