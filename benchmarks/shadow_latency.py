"""Measure what shadow traffic adds to the primary search's latency.

Searches run against the vendor simulator at its profiled latencies (scale
1.0), in a child process as in the demo, through the real adapters, store
and recorder. The same number of searches runs with the shadow switch off
and on (every search shadowed, no A/A), in alternating blocks so that drift
in machine load falls on both arms alike.

Two figures per arm:

* latency: the primary search's wall time as its caller sees it;
* overhead: that wall time minus the primary's own vendor call times, which
  is what the search path adds around the vendors. The shadow's extra CPU
  work on the shared event loop shows up in both.

Vendor latencies are random draws, so the latency quantiles of two arms
differ by chance as well; the bootstrap interval of the p95 difference shows
by how much.

Run: .venv/bin/python benchmarks/shadow_latency.py [--searches N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vendors.protocol import SearchQuery
from vendors.simulator.process import SimulatorProcess
from waterfall.bootstrap import init_store
from waterfall.clock import SharedClock
from waterfall.logging import configure_logging
from waterfall.runtime import Runtime
from waterfall.search import SearchService
from waterfall.service import build_stack
from waterfall.settings import Settings
from waterfall.shadow import ShadowSwitch, set_shadow
from waterfall.stats import Interval

ON = ShadowSwitch(enabled=True, share=1.0, aa_share=0.0)
OFF = ShadowSwitch(enabled=False, share=1.0, aa_share=0.0)
BLOCKS = 6  # alternating off/on blocks per arm


async def _timed_search(
    service: SearchService, index: int, limit: asyncio.Semaphore
) -> tuple[float, float]:
    query = SearchQuery(f"bench-{index:07d}", "Ana", "Chen", "acme.io")
    async with limit:
        began = time.perf_counter()
        result = await service.search(f"bench-user-{index % 500}", query)
        wall_ms = (time.perf_counter() - began) * 1000.0
    vendor_ms = sum(call.latency_ms for call in result.record.calls)
    return wall_ms, wall_ms - vendor_ms


async def _block(
    service: SearchService, first: int, count: int, concurrency: int
) -> list[tuple[float, float]]:
    limit = asyncio.Semaphore(concurrency)
    timings = await asyncio.gather(
        *(_timed_search(service, first + i, limit) for i in range(count))
    )
    # Shadows still running belong to this block's load, not the next one's.
    await service.drain_shadows()
    return list(timings)


async def _run(
    runtime: Runtime, base_url: str, searches: int, concurrency: int
) -> dict[str, np.ndarray]:
    stack = build_stack(runtime, base_url)
    timings: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    per_block = searches // BLOCKS
    index = 0
    try:
        await _block(stack.service, 10**6, 100, concurrency)  # warm connections
        for block in range(BLOCKS * 2):
            arm = "off" if block % 2 == 0 else "on"
            switch = OFF if arm == "off" else ON
            now = runtime.clock.now()
            set_shadow(runtime.store, "optimized-waterfall", switch, "bench", "b", now)
            timings[arm] += await _block(stack.service, index, per_block, concurrency)
            index += per_block
    finally:
        await stack.aclose()
    return {arm: np.asarray(values) for arm, values in timings.items()}


def _p95_difference(on: np.ndarray, off: np.ndarray, seed: int = 0) -> Interval:
    rng = np.random.default_rng(seed)
    draws = 1000
    picks_on = rng.integers(0, len(on), size=(draws, len(on)))
    picks_off = rng.integers(0, len(off), size=(draws, len(off)))
    spread = np.quantile(on[picks_on], 0.95, axis=1) - np.quantile(
        off[picks_off], 0.95, axis=1
    )
    low, high = np.percentile(spread, [2.5, 97.5])
    estimate = float(np.quantile(on, 0.95) - np.quantile(off, 0.95))
    return Interval(estimate, float(low), float(high), 0.95, len(on), len(off))


def _line(name: str, values: np.ndarray) -> str:
    p50, p95, p99 = np.quantile(values, [0.5, 0.95, 0.99])
    return f"  {name}: p50 {p50:8.2f}  p95 {p95:8.2f}  p99 {p99:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=1800, help="Searches per arm")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="Searches in flight at once"
    )
    args = parser.parse_args()

    configure_logging("WARNING", json=True, stream=io.StringIO())
    clock = SharedClock(datetime(2026, 9, 1, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
            spill_path=Path(folder) / "spill.jsonl",
        )
        runtime = Runtime.from_settings(settings, clock)
        init_store(runtime.store, settings.config_dir, clock.now())
        profiles = settings.config_dir / "simulator_profiles.yaml"
        with SimulatorProcess(profiles, settings.simulator_seed, clock, 1.0) as sim:
            timings = asyncio.run(
                _run(runtime, sim.base_url, args.searches, args.concurrency)
            )
        runtime.store.dispose()

    off, on = timings["off"], timings["on"]
    print(f"searches per arm: {len(off)} off, {len(on)} on; {args.concurrency} at once")
    _report("primary search latency (caller's wall time)", off[:, 0], on[:, 0])
    _report(
        "primary overhead (wall time minus its own vendor call times)",
        off[:, 1],
        on[:, 1],
    )


def _report(title: str, off: np.ndarray, on: np.ndarray) -> None:
    print(f"{title}:")
    print(_line("shadow off", off))
    print(_line("shadow on ", on))
    difference = _p95_difference(on, off)
    print(
        f"  p95 on - off: {difference.estimate:+.2f} ms (95% bootstrap interval "
        f"{difference.low:+.2f} to {difference.high:+.2f})"
    )


if __name__ == "__main__":
    main()
