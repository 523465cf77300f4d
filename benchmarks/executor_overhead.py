"""Measure the search path's own overhead and the routing rate.

Vendor time is excluded: every vendor is an in-memory adapter that answers
at once (four misses, then a hit at position 5 of "standard"), so what is
timed is routing (with the percentage read from the store), the executor's
bookkeeping, the JSON log event and handing the record to the recorder.

Run: .venv/bin/python benchmarks/executor_overhead.py [--searches N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from vendors.protocol import ContactProfile, Outcome, SearchQuery, VendorResponse
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.logging import configure_logging
from waterfall.recorder import ExecutionRecorder
from waterfall.routing import route
from waterfall.search import SearchService
from waterfall.settings import Settings
from waterfall.store import Store

NAMES = ["Vendor_D", "Vendor_B", "Vendor_A", "Vendor_C", "Cognism", "Vendor_E"]


class InstantAdapter:
    """Answers without I/O, so the timing holds no vendor time."""

    def __init__(self, name: str, hit: bool, now: datetime) -> None:
        self.name = name
        self.cost_per_call = 0.1
        outcome = Outcome.HIT if hit else Outcome.MISS
        profiles = (ContactProfile("r-1", now, "x@example.com", None),) if hit else ()
        self._response = VendorResponse(name, outcome, 0.0, 200, profiles)

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        return self._response

    async def aclose(self) -> None:
        return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def time_searches(service: SearchService, count: int) -> list[float]:
    query = SearchQuery("cand-1", "Jane", "Doe", "acme.io")
    timings = []
    for index in range(count):
        started = time.perf_counter()
        await service.search(f"user-{index}", query)
        timings.append((time.perf_counter() - started) * 1000.0)
    return timings


def routing_rate(decisions: int) -> float:
    started = time.perf_counter()
    for index in range(decisions):
        route("optimized-waterfall", f"user-{index}", 25.0)
    return decisions / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=5000)
    parser.add_argument(
        "--database-url", default=None, help="Store to use (default: a new SQLite file)"
    )
    args = parser.parse_args()
    configure_logging("INFO", json=True, stream=io.StringIO())
    clock = SimulatedClock(datetime(2026, 9, 1, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        store = Store(args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}")
        init_store(store, Settings().config_dir, clock.now())
        adapters = {n: InstantAdapter(n, n == "Cognism", clock.now()) for n in NAMES}
        recorder = ExecutionRecorder(store)
        service = SearchService(store, adapters, recorder, clock, "optimized-waterfall")
        asyncio.run(time_searches(service, 200))  # warm caches and connections
        timings = asyncio.run(time_searches(service, args.searches))
        recorder.close()
        store.dispose()
    print(f"searches timed: {len(timings)} on {store.engine.dialect.name}")
    print(
        f"overhead per search ms: p50 {statistics.median(timings):.3f}, "
        f"p95 {percentile(timings, 0.95):.3f}, p99 {percentile(timings, 0.99):.3f}"
    )
    print(f"routing decisions per second: {routing_rate(200_000):,.0f}")


if __name__ == "__main__":
    main()
