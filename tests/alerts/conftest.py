"""Alert fixtures: a runtime whose Slack is the mock, its own alert config, and
the vendor simulator with the real search stack in front of it."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.slack.conftest import notifier_for
from vendors.protocol import SearchQuery
from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.runtime import Runtime
from waterfall.service import SearchStack, build_stack
from waterfall.settings import PROJECT_ROOT, Settings
from waterfall.slack.mock import ApiCall, MockSlackApi
from waterfall.store import Store
from waterfall.store.models import ContactOutcome, SearchExecution

ON_CALL = "<!subteam^S0TESTONCALL>"
RUNBOOK = "https://example.invalid/runbook.md"
# Small numbers so that a few dozen simulated searches decide a rule.
TEST_RULES: dict[str, dict[str, Any]] = {
    "cost": {"daily_forecast_usd": 1.0},
    "vendor_errors": {"min_calls": 20, "window_minutes": 15},
    "latency": {"min_searches": 20},
    "data_quality": {"min_feedback_points": 20},
}


def write_config_dir(target: Path, rules: dict[str, dict[str, Any]]) -> Path:
    """Copy config/ and change alerts.yaml's rules as given."""
    shutil.copytree(PROJECT_ROOT / "config", target)
    path = target / "alerts.yaml"
    data = yaml.safe_load(path.read_text())
    data["on_call"] = ON_CALL
    for rule, changes in rules.items():
        data["rules"][rule].update(changes)
    path.write_text(yaml.safe_dump(data))
    return target


@pytest.fixture
def runtime(
    tmp_path: Path, sqlite_store: Store, clock: SimulatedClock, slack: MockSlackApi
) -> Runtime:
    """A runtime on a fresh store that posts to the Slack mock."""
    settings = Settings(
        database_url=sqlite_store.url,
        config_dir=write_config_dir(tmp_path / "config", TEST_RULES),
        runbook_url=RUNBOOK,
        vendor_timeout_s=2.0,
        breaker_min_calls=5,
        redis_url=None,
    )
    built = Runtime.from_settings(settings, clock)
    built.store = sqlite_store
    built.notifier = notifier_for(slack)
    init_store(sqlite_store, settings.config_dir, clock.now())
    return built


@dataclass
class Traffic:
    """Searches through the real stack against the simulator, on one event loop."""

    stack: SearchStack
    simulator: SimulatorServer
    loop: asyncio.AbstractEventLoop
    clock: SimulatedClock
    searches: int = 0

    def search(self, count: int) -> list[Any]:
        """Run count searches, store them, and let 30 simulated seconds pass.

        The searches all start at the clock's moment, and a window ends just
        before its end, so a check right after them would not see them.
        """
        results = self.loop.run_until_complete(self._search(count))
        self.stack.recorder.flush()
        self.clock.advance(timedelta(seconds=30))
        return results

    async def _search(self, count: int) -> list[Any]:
        # Numbered candidates keep the simulator's draws, natural errors
        # included, the same on every run.
        results = []
        for _ in range(count):
            self.searches += 1
            ref = f"cand-{self.searches}"
            query = SearchQuery(ref, "Ana", "Chen", "acme.io")
            results.append(await self.stack.service.search(f"user-{ref}", query))
        return results


@pytest.fixture
def simulator(runtime: Runtime) -> Iterator[SimulatorServer]:
    """The vendor simulator on 127.0.0.1, answering at once."""
    profiles = load_profiles(runtime.settings.config_dir / "simulator_profiles.yaml")
    with SimulatorServer(profiles, 7, runtime.clock, latency_scale=0) as server:
        yield server


def open_traffic(
    runtime: Runtime, simulator: SimulatorServer, with_breaker: bool
) -> Iterator[Traffic]:
    """Build the search stack on the simulator and close it afterwards."""
    loop = asyncio.new_event_loop()
    stack = build_stack(runtime, simulator.base_url, with_breaker=with_breaker)
    assert isinstance(runtime.clock, SimulatedClock)
    try:
        yield Traffic(stack, simulator, loop, runtime.clock)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


@pytest.fixture
def traffic(runtime: Runtime, simulator: SimulatorServer) -> Iterator[Traffic]:
    """Searches without a breaker, so that every call reaches the vendors."""
    yield from open_traffic(runtime, simulator, with_breaker=False)


def posts(api: MockSlackApi) -> list[ApiCall]:
    """Top-level messages posted so far (thread replies left out)."""
    return [c for c in api.calls("chat.postMessage") if "thread_ts" not in c.arguments]


def replies(api: MockSlackApi) -> list[ApiCall]:
    """Thread replies posted so far."""
    return [c for c in api.calls("chat.postMessage") if "thread_ts" in c.arguments]


def text_of(call: ApiCall) -> str:
    """Every text of a posted message, blocks and fallback, as one string."""
    parts = [str(call.arguments.get("text", ""))]
    for block in call.arguments.get("blocks") or []:
        parts.append(str(block.get("text", {}).get("text", "")))
    return "\n".join(parts)


def add_execution(
    store: Store,
    config: str,
    started_at: datetime,
    latency_ms: float = 100.0,
    email_status: str | None = None,
) -> None:
    """Store one primary execution that returned an email, with optional feedback."""
    execution_id = str(uuid.uuid4())
    with store.session() as session:
        session.add(
            SearchExecution(
                id=execution_id,
                search_id=execution_id,
                subject_id="user-1",
                config_name=config,
                is_shadow=False,
                rollout_name="optimized-waterfall",
                rollout_percentage=0.0,
                route_bucket=50.0,
                route_reason="test",
                started_at=started_at,
                criteria={},
                positions_tried=[1],
                position_hit=1,
                vendor_hit="Vendor_D",
                staleness_days=10.0,
                has_email=True,
                has_phone=False,
                latency_ms=latency_ms,
                cost=0.05,
            )
        )
        session.flush()
        if email_status is not None:
            session.add(
                ContactOutcome(
                    execution_id=execution_id,
                    channel="email",
                    status=email_status,
                    observed_at=started_at + timedelta(hours=1),
                    ingested_at=started_at + timedelta(hours=1),
                )
            )
