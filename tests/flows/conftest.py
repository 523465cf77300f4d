"""Fixtures that run the rollout flows for real on Prefect's test harness."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from vendors.esp import FeedbackClient
from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.runtime import Runtime, use_runtime
from waterfall.service import SearchStack, build_stack
from waterfall.settings import Settings
from waterfall.store import Store
from waterfall.traffic import TrafficDriver, TrafficShape


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes about 12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@dataclass
class RolloutEnv:
    """A store, a simulator and simulated traffic wired to one runtime."""

    runtime: Runtime
    clock: SimulatedClock
    simulator: SimulatorServer
    stack: SearchStack
    driver: TrafficDriver
    feedback: FeedbackClient
    loop: asyncio.AbstractEventLoop

    def run_days(self, days: int) -> None:
        """Simulate whole days of traffic on the environment's one event loop.

        The vendor clients keep pooled connections bound to a loop, so every
        call goes through the same loop instead of a new asyncio.run.
        """
        self.loop.run_until_complete(self.driver.run_days(days))

    def wait_for_feedback(self, days: int = 6) -> None:
        """Let simulated days pass without searches so feedback on them arrives."""
        self.clock.advance(timedelta(days=days))
        self.loop.run_until_complete(self.driver.collect_feedback())


@pytest.fixture
def rollout_env(
    prefect_api: None, sqlite_store: Store, clock: SimulatedClock, tmp_path: Path
) -> Iterator[RolloutEnv]:
    """A runtime with a small plan, so that a step needs about a day of traffic."""
    settings = Settings(
        database_url=sqlite_store.url,
        approval_poll_interval_s=1,
        approval_timeout_s=60,
        vendor_timeout_s=0.5,
    )
    runtime = Runtime.from_settings(settings, clock)
    runtime.store = sqlite_store
    gates = dict(runtime.plan.gates)
    # About 170 searches reach the treatment at 10 %: with the plan's 2-point
    # accuracy tolerance the interval would straddle it in some runs.
    gates["accuracy"] = gates["accuracy"].model_copy(update={"min_difference": -0.06})
    runtime.plan = runtime.plan.model_copy(
        update={
            "monitoring_window_days": 2,
            "window_extension_days": 1,
            "min_searches_per_arm": 60,
            "min_feedback_searches_per_arm": 10,
            "gates": gates,
        }
    )
    init_store(sqlite_store, settings.config_dir, clock.now())
    profiles = {
        name: replace(profile, hang_s=1.0)
        for name, profile in load_profiles(
            settings.config_dir / "simulator_profiles.yaml"
        ).items()
    }
    with (
        SimulatorServer(profiles, 5, clock, latency_scale=0.0) as simulator,
        use_runtime(runtime),
    ):
        # The traffic driver sets the simulated clock once per simulated hour, so
        # a 429's hold of a few seconds would skip the vendor for the whole
        # hour, while the simulator draws each 429 on its own.
        stack = build_stack(runtime, simulator.base_url, with_breaker=False)
        feedback = FeedbackClient(simulator.base_url)
        shape = TrafficShape(users=800, searches_per_user_per_day=1.0, concurrency=32)
        driver = TrafficDriver(
            stack.service,
            clock,
            feedback,
            sqlite_store,
            stack.recorder,
            tmp_path / "feedback",
            shape,
        )
        loop = asyncio.new_event_loop()
        env = RolloutEnv(runtime, clock, simulator, stack, driver, feedback, loop)
        yield env
        loop.run_until_complete(_close(env))
        loop.close()


async def _close(env: RolloutEnv) -> None:
    await env.stack.aclose()
    await env.feedback.aclose()
