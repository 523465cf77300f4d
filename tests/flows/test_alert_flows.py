"""Alert flows run for real on Prefect's test harness, with simulator faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flows.alerts import alert_latency, alert_vendor_errors
from tests.alerts.conftest import (
    ON_CALL,
    TEST_RULES,
    add_execution,
    open_traffic,
    posts,
    text_of,
    write_config_dir,
)
from tests.slack.conftest import notifier_for
from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.runtime import Runtime, use_runtime
from waterfall.settings import Settings
from waterfall.slack.mock import MockSlackApi
from waterfall.store import Store

pytestmark = pytest.mark.prefect


@pytest.fixture
def alert_runtime(
    prefect_api: None,
    tmp_path: Path,
    sqlite_store: Store,
    clock: SimulatedClock,
    slack: MockSlackApi,
) -> Iterator[Runtime]:
    """A runtime installed for the flows' tasks, posting to the Slack mock."""
    settings = Settings(
        database_url=sqlite_store.url,
        config_dir=write_config_dir(tmp_path / "config", TEST_RULES),
        vendor_timeout_s=2.0,
        redis_url=None,
    )
    runtime = Runtime.from_settings(settings, clock)
    runtime.store = sqlite_store
    runtime.notifier = notifier_for(slack)
    init_store(sqlite_store, settings.config_dir, clock.now())
    with use_runtime(runtime):
        yield runtime


def by_fingerprint(outcomes: list[dict[str, object]]) -> dict[object, object]:
    return {outcome["fingerprint"]: outcome["action"] for outcome in outcomes}


class TestAlertFlows:
    def test_vendor_error_flow_pages_then_stays_quiet(
        self, alert_runtime: Runtime, slack: MockSlackApi
    ) -> None:
        config_dir = alert_runtime.settings.config_dir
        profiles = load_profiles(config_dir / "simulator_profiles.yaml")
        clock = alert_runtime.clock
        with SimulatorServer(profiles, 7, clock, latency_scale=0) as simulator:
            opened = open_traffic(alert_runtime, simulator, with_breaker=False)
            traffic = next(opened)
            simulator.set_fault("Vendor_D", "server_error")
            traffic.search(30)
            first = alert_vendor_errors()
            second = alert_vendor_errors()
            opened.close()

        assert by_fingerprint(first)["vendor_errors:Vendor_D"] == "sent"
        assert by_fingerprint(second)["vendor_errors:Vendor_D"] == "repeated"
        [message] = posts(slack)
        assert "Vendor_D" in text_of(message)
        assert ON_CALL in text_of(message)

    def test_latency_flow_warns_on_slow_hour(
        self, alert_runtime: Runtime, slack: MockSlackApi
    ) -> None:
        now = alert_runtime.clock.now()
        for i in range(30):
            add_execution(
                alert_runtime.store, "standard", now - timedelta(days=2, minutes=i)
            )
            add_execution(
                alert_runtime.store, "standard", now - timedelta(minutes=i + 1), 300.0
            )

        outcomes = alert_latency()

        assert outcomes[0]["action"] == "sent"
        assert "+200% against the baseline" in text_of(posts(slack)[0])
