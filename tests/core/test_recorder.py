"""The recorder writes every record off the search path and loses none."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from tests.core.fakes import QUERY, ScriptedAdapter
from vendors.protocol import Outcome
from waterfall.executor import WaterfallExecutor
from waterfall.recorder import ExecutionRecorder
from waterfall.routing import route
from waterfall.store import Store
from waterfall.store.models import SearchExecution, VendorCall


async def make_records(clock, count: int):
    adapters = {
        "V1": ScriptedAdapter("V1", Outcome.MISS, clock.now()),
        "V2": ScriptedAdapter("V2", Outcome.HIT, clock.now()),
    }
    executor = WaterfallExecutor(adapters, clock)
    decision = route("salt", "user-1", 0)
    return [
        (
            await executor.execute(["V1", "V2"], QUERY, decision, "standard", "salt")
        ).record
        for _ in range(count)
    ]


def count(store: Store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


class TestExecutionRecorder:
    async def test_close_writes_every_queued_record(self, store: Store, clock) -> None:
        recorder = ExecutionRecorder(store, batch_size=7)
        for record in await make_records(clock, 50):
            recorder.submit(record)
        recorder.close()
        assert count(store, SearchExecution) == 50
        assert count(store, VendorCall) == 100

    async def test_flush_waits_for_the_writes(self, store: Store, clock) -> None:
        recorder = ExecutionRecorder(store)
        for record in await make_records(clock, 5):
            recorder.submit(record)
        recorder.flush()
        assert count(store, SearchExecution) == 5
        recorder.close()

    async def test_failed_writes_are_spilled_not_lost(
        self, tmp_path: Path, clock
    ) -> None:
        broken = Store(f"sqlite:///{tmp_path / 'never-migrated.db'}")
        spill = tmp_path / "spill.jsonl"
        recorder = ExecutionRecorder(broken, spill_path=spill, retries=1)
        records = await make_records(clock, 3)
        for record in records:
            recorder.submit(record)
        recorder.close()
        lines = [json.loads(line) for line in spill.read_text().splitlines()]
        assert [line["id"] for line in lines] == [r.id for r in records]
        assert recorder.spilled == 3

    async def test_submit_after_close_is_rejected(self, sqlite_store: Store) -> None:
        recorder = ExecutionRecorder(sqlite_store)
        recorder.close()
        try:
            recorder.submit(object())  # type: ignore[arg-type]
        except RuntimeError as exc:
            assert "closed" in str(exc)
        else:
            raise AssertionError("submit after close was accepted")


class TestRecorderFaults:
    async def test_unstorable_record_is_spilled_and_rest_written(
        self, sqlite_store: Store, clock, tmp_path: Path
    ) -> None:
        spill = tmp_path / "spill.jsonl"
        recorder = ExecutionRecorder(sqlite_store, batch_size=10, spill_path=spill)
        records = await make_records(clock, 10)
        records[3].vendor_record_id = "\ud800"  # a lone surrogate cannot be encoded
        for record in records:
            recorder.submit(record)
        recorder.flush()
        stored = count(sqlite_store, SearchExecution)
        spilled = [json.loads(line)["id"] for line in spill.read_text().splitlines()]
        recorder.close()
        assert stored == 9
        assert spilled == [records[3].id]

    async def test_thread_keeps_recording_after_a_bad_record(
        self, sqlite_store: Store, clock, tmp_path: Path
    ) -> None:
        recorder = ExecutionRecorder(sqlite_store, spill_path=tmp_path / "s.jsonl")
        bad, *good = await make_records(clock, 4)
        bad.vendor_record_id = "\ud800"
        recorder.submit(bad)
        recorder.flush()
        for record in good:
            recorder.submit(record)
        recorder.close()
        assert count(sqlite_store, SearchExecution) == 3


SIGTERM_SCRIPT = """
import asyncio, os, signal, sys, time
from datetime import UTC, datetime
from tests.core.test_recorder import make_records
from waterfall.cli import install_sigterm_exit
from waterfall.clock import SimulatedClock
from waterfall.recorder import ExecutionRecorder
from waterfall.store import Store

if sys.argv[2] == "handled":
    install_sigterm_exit()
store = Store(sys.argv[1])
recorder = ExecutionRecorder(store, batch_size=100)
clock = SimulatedClock(datetime(2026, 9, 1, tzinfo=UTC))
for record in asyncio.run(make_records(clock, 3000)):
    recorder.submit(record)
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(30)
"""


class TestShutdown:
    def test_sigterm_drains_the_queue(self, sqlite_store: Store) -> None:
        # Without the handler the process dies at once and stores no record.
        completed = subprocess.run(
            [sys.executable, "-c", SIGTERM_SCRIPT, sqlite_store.url, "handled"],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 128 + signal.SIGTERM, completed.stderr
        assert count(sqlite_store, SearchExecution) == 3000
