"""Calibration measured with the system's own metric code.

The standard-order figures come from real searches: the simulator over HTTP,
the real adapters, the search service, the store and ingested feedback. The
per-vendor figures need thousands of records per vendor, more than HTTP
calls allow in a test, so they come from the simulator's own record draws,
stored as executions and outcomes and measured by the same metric code.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from vendors.esp import FeedbackClient
from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.bootstrap import init_store, plan_from
from waterfall.clock import SimulatedClock
from waterfall.metrics import config_metrics, load_window, vendor_metrics
from waterfall.outcomes import ingest_records
from waterfall.recorder import ExecutionRecorder
from waterfall.records import ExecutionRecord
from waterfall.runtime import Runtime
from waterfall.service import build_stack
from waterfall.settings import Settings
from waterfall.store import Store
from waterfall.traffic import TrafficDriver, TrafficShape

SETTINGS = Settings()
PLAN = plan_from(SETTINGS.config_dir)
PROFILES = load_profiles(SETTINGS.config_dir / "simulator_profiles.yaml")
QUALITY = {
    "Cognism": 13.2,
    "Vendor_E": 37.8,
    "Vendor_C": 43.1,
    "Vendor_A": 46.0,
    "Vendor_B": 53.7,
    "Vendor_D": 56.3,
}
RECORDS_PER_VENDOR = 8000
FEEDBACK_DAYS = 7  # every email and phone outcome arrives within 6 days


@pytest.fixture(scope="module")
def standard_metrics(tmp_path_factory: pytest.TempPathFactory):
    """Three days of searches, all on "standard", measured after feedback arrived."""
    folder = tmp_path_factory.mktemp("calibration")
    clock = SimulatedClock(START)
    url = f"sqlite:///{folder / 'w.db'}"
    settings = Settings(database_url=url, vendor_timeout_s=2.0)
    runtime = Runtime.from_settings(settings, clock)
    init_store(runtime.store, settings.config_dir, clock.now())
    seed = settings.simulator_seed
    with SimulatorServer(PROFILES, seed, clock, latency_scale=0) as sim:
        asyncio.run(_search_and_collect(runtime, sim.base_url, folder))
    end = START + timedelta(days=3)
    window = load_window(runtime.store, START, end, as_of=clock.now())
    metrics = config_metrics(window, PLAN).loc["standard"]
    runtime.store.dispose()
    return metrics


async def _search_and_collect(runtime: Runtime, base_url: str, folder: Path) -> None:
    # The traffic driver sets the simulated clock once per simulated hour, so a
    # 429's hold of a few seconds would skip the vendor for the whole hour,
    # while the simulator draws each 429 on its own. Measure without it.
    stack = build_stack(runtime, base_url, with_breaker=False)
    feedback = FeedbackClient(base_url)
    shape = TrafficShape(users=1500, searches_per_user_per_day=1.0, concurrency=32)
    driver = TrafficDriver(
        stack.service,
        runtime.clock,
        feedback,
        runtime.store,
        stack.recorder,
        folder / "feedback",
        shape,
    )
    await driver.run_days(3)
    runtime.clock.advance(timedelta(days=FEEDBACK_DAYS))  # type: ignore[attr-defined]
    await driver.collect_feedback()
    await stack.aclose()
    await feedback.aclose()


@pytest.fixture(scope="module")
def vendor_panel(tmp_path_factory: pytest.TempPathFactory):
    """RECORDS_PER_VENDOR simulator records per vendor, stored and measured."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('panel') / 'w.db'}")
    store.migrate()
    clock = SimulatedClock(START)
    seed = SETTINGS.simulator_seed
    simulator = SimulatorServer(PROFILES, seed, clock, latency_scale=0)
    endpoints = simulator.app.state.endpoints
    recorder = ExecutionRecorder(store, batch_size=1000)
    feedback = []
    for name, endpoint in endpoints.items():
        for index in range(RECORDS_PER_VENDOR):
            ref = f"panel-{index:06d}"
            record, outcomes = _panel_record(endpoint, name, ref, clock)
            recorder.submit(record)
            feedback += outcomes
    recorder.close()
    ingest_records(store, feedback, clock.now())
    end, as_of = START + timedelta(seconds=1), START + timedelta(days=30)
    window = load_window(store, START, end, as_of=as_of)
    metrics = vendor_metrics(window, PLAN).reset_index().set_index("vendor")
    store.dispose()
    return metrics


def _panel_record(
    endpoint, name: str, ref: str, clock
) -> tuple[ExecutionRecord, list[dict]]:
    truth = endpoint.truth(ref)
    staleness = endpoint.staleness_days(ref, 1)
    record = ExecutionRecord(
        id=str(uuid.uuid4()),
        search_id=str(uuid.uuid4()),
        subject_id=ref,
        config_name=f"panel-{name}",
        is_shadow=False,
        rollout_name="panel",
        rollout_percentage=0,
        route_bucket=0,
        route_reason="panel",
        started_at=clock.now(),
        criteria={},
        positions_tried=[1],
        position_hit=1,
        vendor_hit=name,
        vendor_record_id=truth.vendor_record_id,
        staleness_days=staleness,
        has_email=True,
        has_phone=truth.has_phone,
        result_count=1,
    )
    email = "bounced" if truth.email_bounces else "delivered"
    outcomes = [_outcome(record.id, "email", email, clock)]
    if truth.has_phone:
        phone = "invalid" if truth.phone_invalid else "valid"
        outcomes.append(_outcome(record.id, "phone", phone, clock))
    return record, outcomes


def _outcome(execution_id: str, channel: str, status: str, clock) -> dict:
    return {
        "execution_id": execution_id,
        "channel": channel,
        "status": status,
        "observed_at": clock.now().isoformat(),
    }


class TestStandardCalibration:
    def test_staleness_is_111_days(self, standard_metrics) -> None:
        assert abs(standard_metrics["staleness_mean_days"] - 111) <= 8

    def test_accuracy_is_80_percent(self, standard_metrics) -> None:
        assert abs(standard_metrics["accuracy"] - 0.80) <= 0.025

    def test_first_hit_issue_rate_is_31_8_percent(self, standard_metrics) -> None:
        assert abs(standard_metrics["first_hit_issue_rate"] - 0.318) <= 0.025


class TestVendorCalibration:
    @pytest.mark.parametrize("vendor", sorted(QUALITY))
    def test_quality_score_within_two_points(self, vendor_panel, vendor: str) -> None:
        assert abs(vendor_panel.loc[vendor, "quality_score"] - QUALITY[vendor]) <= 2

    def test_vendor_d_staleness_is_175_days(self, vendor_panel) -> None:
        assert abs(vendor_panel.loc["Vendor_D", "staleness_mean_days"] - 175) <= 10

    def test_cognism_staleness_is_23_days(self, vendor_panel) -> None:
        assert abs(vendor_panel.loc["Cognism", "staleness_mean_days"] - 23) <= 3

    def test_vendor_d_bounce_rate_is_34_4_percent(self, vendor_panel) -> None:
        assert abs(vendor_panel.loc["Vendor_D", "email_bounce_rate"] - 0.344) <= 0.02
