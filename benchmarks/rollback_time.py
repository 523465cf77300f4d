"""Measure how long a rollback takes to reach the next search.

Two measurements, each repeated:

- in-process: the rollout is at 50 % when `roll_back_everything` runs. It
  writes the percentage, closes stages and skips the Slack notice because no
  Slack is configured. The search service's own routing call follows at once.
  Timed: call start to the first routing decision on "standard".
- command line: a watcher thread routes a treatment subject in a loop through
  the search service while `waterfall rollout rollback` runs as a new
  process. Timed: process start to the first search on "standard" (this
  includes the interpreter's start and imports), and process start to exit.

Run: .venv/bin/python benchmarks/rollback_time.py [--repeats N]
     [--postgres-server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from waterfall import rollout as core
from waterfall.bootstrap import init_store
from waterfall.clock import SimulatedClock
from waterfall.logging import configure_logging
from waterfall.recorder import ExecutionRecorder
from waterfall.rollback import roll_back_everything
from waterfall.routing import route
from waterfall.runtime import Runtime
from waterfall.search import SearchService
from waterfall.settings import Settings
from waterfall.store.db import scratch_postgres_database

ROLLOUT = "optimized-waterfall"
CLI = Path(sys.executable).with_name("waterfall")


def treatment_subject() -> str:
    """Find a subject on the treatment config at 50 %."""
    for number in range(1000):
        subject = f"user-{number}"
        if route(ROLLOUT, subject, 50).config_name == "optimized":
            return subject
    raise RuntimeError("no subject below 50 % among 1,000")


def in_process(runtime: Runtime, service: SearchService, subject: str) -> float:
    """Measure seconds from the rollback call to the next search on control."""
    set_half(runtime)
    assert service.decide(subject).config_name == "optimized"
    started = time.perf_counter()
    roll_back_everything(runtime, "benchmark", "measure time to effect")
    decision = service.decide(subject)
    elapsed = time.perf_counter() - started
    assert decision.config_name == "standard"
    return elapsed


def from_command_line(
    runtime: Runtime, service: SearchService, subject: str, url: str
) -> tuple[float, float]:
    """Measure seconds from process start to effect and to the process's exit."""
    set_half(runtime)
    seen: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if service.decide(subject).config_name == "standard":
                seen.append(time.perf_counter())
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    env = {**os.environ, "WATERFALL_DATABASE_URL": url, "WATERFALL_LOG_LEVEL": "ERROR"}
    started = time.perf_counter()
    subprocess.run(
        [str(CLI), "rollout", "rollback", "--reason", "benchmark"],
        env=env,
        check=True,
        capture_output=True,
    )
    exited = time.perf_counter()
    watcher.join(timeout=10)
    stop.set()
    return seen[0] - started, exited - started


def set_half(runtime: Runtime) -> None:
    core.set_percentage(
        runtime.store, ROLLOUT, 50, "benchmark", "reset", runtime.clock.now()
    )


@contextmanager
def _database(server: str | None, folder: str) -> Iterator[str]:
    if server is None:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    with scratch_postgres_database(server, "waterfall_rollback_bench") as url:
        yield url


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(value * 1000 for value in seconds)
    return (
        f"{label}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms "
        f"({len(ms)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres-server", default=None)
    args = parser.parse_args()
    configure_logging("ERROR", json=True, stream=io.StringIO())
    clock = SimulatedClock(datetime(2026, 9, 1, tzinfo=UTC))
    with (
        tempfile.TemporaryDirectory() as folder,
        _database(args.postgres_server, folder) as url,
    ):
        settings = Settings(database_url=url, slack_bot_token=None)
        runtime = Runtime.from_settings(settings, clock)
        init_store(runtime.store, settings.config_dir, clock.now())
        recorder = ExecutionRecorder(runtime.store)
        service = SearchService(runtime.store, {}, recorder, clock, ROLLOUT)
        subject = treatment_subject()
        inside = [in_process(runtime, service, subject) for _ in range(args.repeats)]
        outside = [
            from_command_line(runtime, service, subject, url)
            for _ in range(max(3, args.repeats // 4))
        ]
        recorder.close()
        runtime.store.dispose()
    print(f"store: {runtime.store.engine.dialect.name}")
    print(summary("in-process rollback to next search on standard", inside))
    print(summary("CLI start to next search on standard", [o[0] for o in outside]))
    print(summary("CLI start to exit", [o[1] for o in outside]))


if __name__ == "__main__":
    main()
