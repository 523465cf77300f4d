"""The breaker alert, sent from the breaker's transition listener on the real
search path, and read back from the Slack mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.conftest import (
    ON_CALL,
    RUNBOOK,
    Traffic,
    open_traffic,
    posts,
    text_of,
)
from vendors.simulator.server import SimulatorServer
from waterfall.breaker.rule import State
from waterfall.rollout import set_percentage
from waterfall.runtime import Runtime
from waterfall.slack.mock import MockSlackApi
from waterfall.slack.notifier import NullNotifier
from waterfall.store import alert_repository as alert_repo


@pytest.fixture
def guarded(runtime: Runtime, simulator: SimulatorServer) -> Iterator[Traffic]:
    """Searches through the circuit breaker, with the breaker alert listening."""
    yield from open_traffic(runtime, simulator, with_breaker=True)


def breaker_state(traffic: Traffic, vendor: str) -> State:
    assert traffic.stack.breaker is not None
    return traffic.stack.breaker.status([vendor])[0].state


def flush(traffic: Traffic) -> None:
    assert traffic.stack.breaker_alerts is not None
    traffic.stack.breaker_alerts.flush()


class TestBreakerAlert:
    def test_first_vendor_opening_pages_on_call(
        self, guarded: Traffic, slack: MockSlackApi
    ) -> None:
        guarded.simulator.set_fault("Vendor_D", "server_error")
        guarded.search(8)
        flush(guarded)

        assert breaker_state(guarded, "Vendor_D") is State.OPEN
        [message] = posts(slack)
        text = text_of(message)
        assert "[CRITICAL] Circuit breaker open for a first-position vendor: " in text
        assert "Vendor_D" in text
        assert "CLOSED -> OPEN, error rate 100.0% over 5 calls" in text
        assert "`standard`" in text
        assert ON_CALL in text
        assert f"<{RUNBOOK}#breaker-alert|" in text

    def test_vendor_not_first_sends_nothing(
        self, guarded: Traffic, slack: MockSlackApi
    ) -> None:
        guarded.simulator.set_fault("Vendor_B", "server_error")
        guarded.search(30)
        flush(guarded)

        assert breaker_state(guarded, "Vendor_B") is State.OPEN
        assert breaker_state(guarded, "Vendor_D") is State.CLOSED
        assert posts(slack) == []

    def test_treatment_first_vendor_counts_once_it_serves(
        self, runtime: Runtime, guarded: Traffic, slack: MockSlackApi
    ) -> None:
        set_percentage(
            runtime.store,
            runtime.plan.rollout_name,
            100,
            "test",
            "all on optimized",
            runtime.clock.now(),
        )
        guarded.simulator.set_fault("Cognism", "server_error")
        guarded.search(8)
        flush(guarded)

        [message] = posts(slack)
        assert "Cognism" in text_of(message)
        assert "`optimized`" in text_of(message)

    def test_reset_sends_recovery(
        self, runtime: Runtime, guarded: Traffic, slack: MockSlackApi
    ) -> None:
        guarded.simulator.set_fault("Vendor_D", "server_error")
        guarded.search(8)
        assert guarded.stack.breaker is not None
        guarded.stack.breaker.reset("Vendor_D", "alice", "vendor fixed")
        flush(guarded)

        _first, recovery = posts(slack)
        assert "Resolved: Circuit breaker open" in text_of(recovery)
        with runtime.store.session() as session:
            row = alert_repo.latest_alert(session, "breaker:Vendor_D", "resolved")
        assert row is not None

    def test_no_listener_without_slack(
        self, runtime: Runtime, simulator: SimulatorServer
    ) -> None:
        runtime.notifier = NullNotifier()
        opened = open_traffic(runtime, simulator, with_breaker=True)
        traffic = next(opened)
        opened.close()

        assert traffic.stack.breaker is not None
        assert traffic.stack.breaker_alerts is None
