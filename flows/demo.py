"""The end-to-end demo: the whole rollout on simulated traffic, in minutes.

It uses the production code paths: the vendor simulator over HTTP, the real
adapters, the store, the Prefect flows with pause and resume. Only the clock
is simulated, and approvals come from a demo approver that clicks Approve in
a local mock of Slack and is labelled as such in every record it leaves.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.demo_slack import DEMO_USER_ID, DEMO_USER_NAME, demo_slack
from flows.rollout import rollout
from flows.shadow import shadow_analysis
from vendors.esp import FeedbackClient
from vendors.simulator.process import SimulatorProcess
from waterfall.bootstrap import init_store
from waterfall.clock import SharedClock
from waterfall.logging import configure_logging
from waterfall.report import DemoReport, build_demo_report
from waterfall.runtime import Runtime, use_runtime
from waterfall.service import build_stack
from waterfall.settings import Settings
from waterfall.shadow import ShadowSwitch, set_shadow
from waterfall.traffic import DayStats, TrafficDriver, TrafficShape

DEMO_START = datetime(2026, 9, 1, tzinfo=UTC)
DEMO_APPROVER = f"{DEMO_USER_NAME} (Slack {DEMO_USER_ID})"
# Vendor latencies are slept at this fraction so that three weeks of traffic
# fit in minutes; reported latencies are measured wall times at this scale.
LATENCY_SCALE = 0.02
# Timeouts shrink with the latencies: a vendor that hangs blocks the simulated
# hour for VENDOR_TIMEOUT_S instead of the catalog's seconds.
VENDOR_TIMEOUT_S = 0.5
SIMULATED_HANG_S = 1.0
# Before the first step, everyone is on "standard" and a quarter of the
# searches also run "optimized" as a shadow. A tenth of those repeat
# "standard" (A/A) to measure vendor noise. A quarter gives about 1,500 A/B
# pairs in the week, five times the analysis minimum, and costs the demo
# less time than shadowing every search.
SHADOW_DAYS = 7
SHADOW_SWITCH = ShadowSwitch(enabled=True, share=0.25, aa_share=0.1)
SETTLE_DAYS = 3  # days after the last step, so feedback on its window arrives
MAX_SIMULATED_DAYS = 60


@dataclass(frozen=True)
class DemoOptions:
    """The demo's output folder and the amount of traffic it simulates."""

    output: Path
    users: int = 2000
    searches_per_user_per_day: float = 0.5
    # A busy machine delays the event loop past a short timeout, and those
    # timeouts count as vendor errors at the gate. Tests on shared CI
    # machines therefore pass a longer one.
    vendor_timeout_s: float = VENDOR_TIMEOUT_S
    hang_s: float = SIMULATED_HANG_S


def run_demo(options: DemoOptions) -> DemoReport:
    """Run baseline traffic, every rollout step with approvals, and report."""
    output = _fresh_folder(options.output)
    _quiet_library_logs()
    clock = SharedClock(DEMO_START)
    settings = Settings(
        database_url=f"sqlite:///{output / 'waterfall.db'}",
        shadow_report_dir=output,
        approval_poll_interval_s=1,
        # The approver clicks within seconds. A step still waiting after this
        # is stuck, and the demo should end rather than wait a day.
        approval_timeout_s=600,
        simulator_latency_scale=LATENCY_SCALE,
        vendor_timeout_s=options.vendor_timeout_s,
    )
    runtime = Runtime.from_settings(settings, clock)
    profiles = settings.config_dir / "simulator_profiles.yaml"
    with (
        _events_to(output / "events.jsonl", settings.log_level),
        SimulatorProcess(
            profiles,
            settings.simulator_seed,
            clock,
            LATENCY_SCALE,
            hang_s=options.hang_s,
        ) as simulator,
        use_runtime(runtime),
    ):
        init_store(runtime.store, settings.config_dir, clock.now())
        report = asyncio.run(_drive(runtime, simulator.base_url, options, output))
    runtime.store.dispose()
    print(report.render_text())
    print(f"\nreport: {report.markdown_path}\nevents: {output / 'events.jsonl'}")
    return report


async def _drive(
    runtime: Runtime, base_url: str, options: DemoOptions, output: Path
) -> DemoReport:
    clock = runtime.clock
    assert isinstance(clock, SharedClock)
    # The traffic driver sets the simulated clock once per simulated hour, so a
    # 429's hold of a few seconds would skip the vendor for the whole hour,
    # while the simulator draws each 429 on its own. Measure without it.
    stack = build_stack(
        runtime,
        base_url,
        spill_path=output / "spilled-executions.jsonl",
        with_breaker=False,
    )
    feedback = FeedbackClient(base_url)
    shape = TrafficShape(
        users=options.users, searches_per_user_per_day=options.searches_per_user_per_day
    )
    driver = TrafficDriver(
        stack.service,
        clock,
        feedback,
        runtime.store,
        stack.recorder,
        output / "feedback",
        shape,
    )
    try:
        with demo_slack(runtime) as slack:
            shadow = await _shadow_week(runtime, driver)
            outcomes = await _run_steps(runtime, driver)
            _say(f"settling: {SETTLE_DAYS} more days for feedback on the last window")
            await driver.run_days(SETTLE_DAYS, _progress("after rollout", clock))
            _say(slack.summary())
    finally:
        await stack.aclose()
        await feedback.aclose()
    approvals = slack.approver.approvals
    return build_demo_report(runtime, DEMO_START, outcomes, output, approvals, shadow)


async def _shadow_week(runtime: Runtime, driver: TrafficDriver) -> dict[str, Any]:
    """Run a week of shadow traffic, then the shadow analysis, then switch it off."""
    clock = _shared_clock(runtime)
    rollout_name = runtime.plan.rollout_name
    set_shadow(
        runtime.store, rollout_name, SHADOW_SWITCH, "demo", "shadow week", clock.now()
    )
    _say(
        f"shadow week: {SHADOW_DAYS} days on 'standard' for everyone, "
        f"{SHADOW_SWITCH.share:.0%} of searches also run 'optimized' as a shadow"
    )
    await driver.run_days(SHADOW_DAYS, _progress("shadow week 0%", clock))
    result = await asyncio.to_thread(shadow_analysis, days=SHADOW_DAYS)
    off = ShadowSwitch(False, SHADOW_SWITCH.share, SHADOW_SWITCH.aa_share)
    set_shadow(
        runtime.store, rollout_name, off, "demo", "shadow week over", clock.now()
    )
    _say(f"shadow analysis: {result['verdict'].upper()} ({result['reason']})")
    for item in result["failed"]:
        _say(f"  failed check {item['name']}: {item['detail']}")
    _say(f"  report: {result['report_path']}")
    return result


async def _run_steps(runtime: Runtime, driver: TrafficDriver) -> list[dict[str, Any]]:
    """Alternate rollout flow runs with simulated days until the plan ends."""
    history: list[dict[str, Any]] = []
    simulated = 0
    while simulated < MAX_SIMULATED_DAYS:
        outcomes = await asyncio.to_thread(rollout, actor="demo")
        history += outcomes
        for outcome in outcomes:
            _say(
                f"step {outcome['step']:g}%: {outcome['status']} ({outcome['detail']})"
            )
        last = outcomes[-1] if outcomes else None
        if last is None or last["status"] in (
            "gate_failed",
            "rejected",
            "approval_timed_out",
        ):
            return history
        if last["status"] == "approved":
            return history
        days = _days_until(runtime, last["stage"]["window_end"])
        label = f"step {last['step']:g}%"
        await driver.run_days(days, _progress(label, _shared_clock(runtime)))
        simulated += days
    return history


def _shared_clock(runtime: Runtime) -> SharedClock:
    clock = runtime.clock
    assert isinstance(clock, SharedClock)
    return clock


def _days_until(runtime: Runtime, window_end: str) -> int:
    remaining = datetime.fromisoformat(window_end) - runtime.clock.now()
    return max(1, -(-int(remaining.total_seconds()) // 86_400))


def _progress(label: str, clock: SharedClock) -> Any:
    def report(day: int, stats: DayStats) -> None:
        date = clock.now() - timedelta(days=1)
        _say(
            f"  {label} | simulated day {day} ({date:%Y-%m-%d}) | "
            f"{stats.searches} searches, {stats.hits} hits, "
            f"{stats.feedback.accepted} feedback records"
        )

    return report


def _say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def _events_to(path: Path, level: str) -> Iterator[None]:
    """Send structured events to a file for the block, then back to stderr."""
    with path.open("w") as events:
        configure_logging(level, json=True, stream=events)
        try:
            yield
        finally:
            configure_logging(level, json=True)


def _quiet_library_logs() -> None:
    # Flow-run lines stay on the terminal; per-task lines and Great
    # Expectations' notices would bury the progress lines.
    import great_expectations  # noqa: F401  # sets some of its loggers to INFO

    names = [n for n in logging.root.manager.loggerDict if n.startswith("great_exp")]
    for name in ["prefect.task_runs", *names]:
        logging.getLogger(name).setLevel(logging.WARNING)


def _fresh_folder(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path.resolve()
