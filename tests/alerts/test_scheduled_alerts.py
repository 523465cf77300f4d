"""Scheduled alert checks, driven by simulator faults and the store, read back
from what the Slack mock received."""

from __future__ import annotations

from datetime import timedelta

from tests.alerts.conftest import (
    ON_CALL,
    RUNBOOK,
    Traffic,
    add_execution,
    posts,
    replies,
    text_of,
)
from waterfall.alerts.maintenance import add_window
from waterfall.alerts.runner import run_check
from waterfall.runtime import Runtime
from waterfall.slack.mock import MockSlackApi
from waterfall.store import alert_repository as alert_repo

FIRST = "Vendor_D"  # position 1 of "standard", where everyone is at 0 %


def actions(runtime: Runtime, rule: str) -> dict[str, str]:
    return {o.fingerprint: o.action for o in run_check(runtime, rule)}


class TestVendorErrorAlert:
    def test_failing_vendor_pages_on_call(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == "sent"
        [message] = posts(slack)
        text = text_of(message)
        assert message.arguments["channel"] == "#waterfall-alerts"
        assert f"[CRITICAL] Vendor error rate high: {FIRST}" in text
        assert "100.0% (30 of 30 calls failed)" in text
        assert "threshold (10%)" in text
        assert "`standard`" in text
        assert ON_CALL in text
        assert f"<{RUNBOOK}#vendor-error-alert|" in text
        assert "Recommended action:" in text

    def test_second_run_sends_no_repeat(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)
        run_check(runtime, "vendor_errors")
        runtime.clock.advance(timedelta(minutes=5))

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == (
            "repeated"
        )
        assert len(posts(slack)) == 1
        assert replies(slack) == []

    def test_summary_in_thread_when_due(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)
        run_check(runtime, "vendor_errors")
        runtime.clock.advance(timedelta(minutes=5))
        run_check(runtime, "vendor_errors")
        runtime.clock.advance(timedelta(minutes=56))
        traffic.search(30)

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == (
            "summarised"
        )
        [reply] = replies(slack)
        assert reply.arguments["thread_ts"] == posts(slack)[0].answer["ts"]
        assert "Still firing" in reply.arguments["text"]
        assert "3 checks fired" in reply.arguments["text"]
        assert len(posts(slack)) == 1

    def test_recovery_when_errors_stop(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)
        run_check(runtime, "vendor_errors")
        traffic.simulator.clear_faults()
        runtime.clock.advance(timedelta(minutes=20))
        traffic.search(40)

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == (
            "recovered"
        )
        recovery = posts(slack)[-1]
        assert f"Resolved: Vendor error rate high: {FIRST}" in text_of(recovery)
        with runtime.store.session() as session:
            row = alert_repo.latest_alert(session, f"vendor_errors:{FIRST}", "resolved")
        assert row is not None
        assert row.resolved_at == runtime.clock.now()

    def test_few_calls_never_alert(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.simulator.set_fault(FIRST, "server_error", rate=0.34)
        traffic.search(3)

        assert f"vendor_errors:{FIRST}" not in actions(runtime, "vendor_errors")
        assert posts(slack) == []

    def test_maintenance_window_suppresses_and_records(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        now = runtime.clock.now()
        window = add_window(
            runtime.store,
            now - timedelta(minutes=1),
            now + timedelta(hours=1),
            "vendor upgrade",
            "alice",
            now,
        )
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)
        first_check = runtime.clock.now()
        run_check(runtime, "vendor_errors")
        runtime.clock.advance(timedelta(minutes=5))

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == (
            "suppressed"
        )
        assert slack.calls("chat.postMessage") == []
        with runtime.store.session() as session:
            [row] = alert_repo.alert_events(session)
            assert row.status == "suppressed"
            assert row.maintenance_window_id == window.id
            assert row.occurrences == 2
            assert row.fired_at == first_check
            assert row.details["vendors"] == [FIRST]

    def test_alert_sent_once_window_ends(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        now = runtime.clock.now()
        add_window(runtime.store, now, now + timedelta(minutes=10), "db move", "a", now)
        traffic.simulator.set_fault(FIRST, "server_error")
        traffic.search(30)
        run_check(runtime, "vendor_errors")
        runtime.clock.advance(timedelta(minutes=11))
        traffic.search(30)

        assert actions(runtime, "vendor_errors")[f"vendor_errors:{FIRST}"] == "sent"
        assert len(posts(slack)) == 1


class TestCostAlert:
    def test_spend_over_forecast_warns(
        self, runtime: Runtime, traffic: Traffic, slack: MockSlackApi
    ) -> None:
        traffic.search(20)

        assert actions(runtime, "cost") == {"cost:all": "sent"}
        text = text_of(posts(slack)[0])
        assert "[WARNING] Vendor spend above forecast: all" in text
        assert "of the 1.00 USD forecast" in text
        assert "threshold (150% of forecast)" in text
        assert f"`{FIRST}`" in text
        assert f"<{RUNBOOK}#cost-alert|" in text
        assert ON_CALL not in text

    def test_spend_within_forecast_is_quiet(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        assert actions(runtime, "cost") == {"cost:all": "clear"}
        assert posts(slack) == []


class TestLatencyAlert:
    def fill(self, runtime: Runtime, recent_ms: float) -> None:
        now = runtime.clock.now()
        for i in range(40):
            add_execution(runtime.store, "standard", now - timedelta(days=3, minutes=i))
            add_execution(
                runtime.store, "standard", now - timedelta(minutes=i + 1), recent_ms
            )

    def test_p95_above_baseline_warns(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        self.fill(runtime, recent_ms=150.0)

        assert actions(runtime, "latency") == {"latency:standard": "sent"}
        text = text_of(posts(slack)[0])
        assert "p95 150 ms, +50% against the baseline p95 100 ms" in text
        assert "+20% over baseline" in text
        assert f"<{RUNBOOK}#latency-alert|" in text

    def test_p95_within_baseline_is_quiet(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        self.fill(runtime, recent_ms=115.0)

        assert actions(runtime, "latency") == {"latency:standard": "clear"}
        assert posts(slack) == []


class TestDataQualityAlert:
    def fill(self, runtime: Runtime, delivered: int, bounced: int) -> None:
        start = runtime.clock.now() - timedelta(days=2)
        for i, status in enumerate(["delivered"] * delivered + ["bounced"] * bounced):
            add_execution(
                runtime.store, "standard", start + timedelta(minutes=i), 100.0, status
            )

    def test_accuracy_under_threshold_warns(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        self.fill(runtime, delivered=14, bounced=6)

        assert actions(runtime, "data_quality") == {"data_quality:standard": "sent"}
        text = text_of(posts(slack)[0])
        assert "70.0% of 20 emails and phones with feedback were valid" in text
        assert "at least 75%" in text
        assert f"<{RUNBOOK}#data-quality-alert|" in text

    def test_recovery_when_accuracy_returns(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        self.fill(runtime, delivered=14, bounced=6)
        run_check(runtime, "data_quality")
        self.fill(runtime, delivered=30, bounced=0)

        assert actions(runtime, "data_quality") == {
            "data_quality:standard": "recovered"
        }
        assert "Resolved: Contact accuracy" in text_of(posts(slack)[-1])
