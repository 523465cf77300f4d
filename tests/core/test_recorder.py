"""The recorder writes every record off the search path and loses none."""

from __future__ import annotations

import json
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
