"""Measure the search path's own overhead and the routing rate.

Vendor time is excluded: every vendor is an in-memory adapter that replies
at once (four misses, then a hit at position 5 of "standard"), so what is
timed is routing (with the percentage read from the store), the executor's
bookkeeping, the JSON log event and handing the record to the recorder.

Run: .venv/bin/python benchmarks/executor_overhead.py [--searches N]
     [--postgres-server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
from waterfall.store.db import scratch_postgres_database

NAMES = ["Vendor_D", "Vendor_B", "Vendor_A", "Vendor_C", "Cognism", "Vendor_E"]


class InstantAdapter:
    """A vendor that replies without I/O, so the timing contains no vendor time."""

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


def time_store_writes(
    recorder: ExecutionRecorder, service: SearchService, count: int
) -> float:
    """Return the recorder's write time per record, queue to committed row."""
    query = SearchQuery("cand-2", "Jane", "Doe", "acme.io")
    results = asyncio.run(_search_many(service, query, count))
    recorder.flush()
    started = time.perf_counter()
    for result in results:
        result.record.id = str(uuid.uuid4())
        recorder.submit(result.record)
    recorder.flush()
    return (time.perf_counter() - started) * 1000.0 / count


async def _search_many(service: SearchService, query: SearchQuery, count: int) -> list:
    return [await service.search(f"writer-{index}", query) for index in range(count)]


def routing_rate(decisions: int) -> float:
    started = time.perf_counter()
    for index in range(decisions):
        route("optimized-waterfall", f"user-{index}", 25.0)
    return decisions / (time.perf_counter() - started)


@contextmanager
def _database(server: str | None, folder: str) -> Iterator[str]:
    if server is None:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    with scratch_postgres_database(server, "waterfall_bench") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=5000)
    parser.add_argument(
        "--postgres-server",
        default=None,
        help="PostgreSQL server URL; the benchmark creates and drops its own "
        "database there (default: a new SQLite file)",
    )
    args = parser.parse_args()
    configure_logging("INFO", json=True, stream=io.StringIO())
    clock = SimulatedClock(datetime(2026, 9, 1, tzinfo=UTC))
    with (
        tempfile.TemporaryDirectory() as folder,
        _database(args.postgres_server, folder) as url,
    ):
        store = Store(url)
        init_store(store, Settings().config_dir, clock.now())
        adapters = {n: InstantAdapter(n, n == "Cognism", clock.now()) for n in NAMES}
        recorder = ExecutionRecorder(store)
        service = SearchService(store, adapters, recorder, clock, "optimized-waterfall")
        asyncio.run(time_searches(service, 200))  # warm caches and connections
        timings = asyncio.run(time_searches(service, args.searches))
        recorder.flush()
        write_ms = time_store_writes(recorder, service, args.searches)
        recorder.close()
        store.dispose()
    print(f"searches timed: {len(timings)} on {store.engine.dialect.name}")
    print(
        f"overhead per search ms: p50 {statistics.median(timings):.3f}, "
        f"p95 {percentile(timings, 0.95):.3f}, p99 {percentile(timings, 0.99):.3f}"
    )
    print(f"store write per record ms (background thread, batched): {write_ms:.3f}")
    print(f"routing decisions per second: {routing_rate(200_000):,.0f}")


if __name__ == "__main__":
    main()
