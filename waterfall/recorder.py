"""Write execution records to the store on a background thread.

A search only puts its record on a queue, so a slow database never slows a
search. The thread writes in batches; `close()` drains the queue before it
returns and runs at interpreter exit, so records are not lost on shutdown. A
batch the store rejects is retried, then appended to a spill file as JSON
lines, so a database outage loses no record either.
"""

from __future__ import annotations

import atexit
import json
import queue
import threading
import time
from pathlib import Path

from sqlalchemy import Table, insert
from sqlalchemy.exc import InterfaceError, OperationalError

from waterfall.logging import get_logger
from waterfall.records import ExecutionRecord
from waterfall.store import Store
from waterfall.store.models import SearchExecution, VendorCall

log = get_logger("recorder")

_STOP = object()
_EXECUTIONS: Table = SearchExecution.__table__  # type: ignore[assignment]
_CALLS: Table = VendorCall.__table__  # type: ignore[assignment]


class ExecutionRecorder:
    """Queue-backed, batched writer of execution records."""

    def __init__(
        self,
        store: Store,
        batch_size: int = 200,
        spill_path: Path | None = None,
        retries: int = 3,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._spill_path = spill_path
        self._retries = retries
        self._queue: queue.Queue[object] = queue.Queue()
        self._closed = False
        self.written = 0
        self.spilled = 0
        self._thread = threading.Thread(
            target=self._run, name="execution-recorder", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def submit(self, record: ExecutionRecord) -> None:
        """Queue a record for writing; returns at once."""
        if self._closed:
            raise RuntimeError("recorder is closed: create a new one to record more")
        self._queue.put(record)

    def flush(self) -> None:
        """Block until every queued record is written or spilled."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        atexit.unregister(self.close)

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            try:
                if batch:
                    self._write(batch)
            finally:
                # Marked done even if writing raised, so that flush() returns.
                for _ in range(len(batch) + int(stop)):
                    self._queue.task_done()
            if stop:
                return

    def _take_batch(self) -> tuple[list[ExecutionRecord], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # seen again on the next pass, after this batch
                self._queue.task_done()
                break
            batch.append(item)
        return batch, False  # type: ignore[return-value]

    def _write(self, batch: list[ExecutionRecord]) -> None:
        for attempt in range(1, self._retries + 1):
            try:
                self._insert(batch)
                self.written += len(batch)
                return
            except (OperationalError, InterfaceError) as exc:
                # The store is unreachable or locked: retry, then spill the batch.
                log.warning(
                    "recorder.write_failed",
                    attempt=attempt,
                    records=len(batch),
                    error=type(exc).__name__,
                )
                time.sleep(0.05 * attempt)
            except Exception as exc:
                # The store rejects some record in the batch (bad text, a value
                # too long): find it instead of losing the batch or the thread.
                log.error(
                    "recorder.batch_rejected",
                    records=len(batch),
                    error=type(exc).__name__,
                )
                self._write_one_by_one(batch)
                return
        self._spill(batch)

    def _write_one_by_one(self, batch: list[ExecutionRecord]) -> None:
        """Store each record the store accepts and spill the ones it rejects."""
        rejected = []
        for record in batch:
            try:
                self._insert([record])
                self.written += 1
            except Exception as exc:
                log.error(
                    "recorder.record_rejected",
                    execution_id=record.id,
                    error=type(exc).__name__,
                )
                rejected.append(record)
        if rejected:
            self._spill(rejected)

    def _insert(self, batch: list[ExecutionRecord]) -> None:
        calls = [row for record in batch for row in record.call_rows()]
        # Core inserts on the tables, not ORM bulk inserts: the ORM path costs
        # several times more CPU per row, and this thread shares the GIL with searches.
        with self._store.engine.begin() as connection:
            rows = [record.execution_row() for record in batch]
            connection.execute(insert(_EXECUTIONS), rows)
            if calls:
                connection.execute(insert(_CALLS), calls)

    def _spill(self, batch: list[ExecutionRecord]) -> None:
        if self._spill_path is None:
            log.error(
                "recorder.records_dropped",
                records=len(batch),
                execution_ids=[record.id for record in batch[:20]],
                fix="set a spill path so that failed writes are kept",
            )
            return
        try:
            self._spill_path.parent.mkdir(parents=True, exist_ok=True)
            with self._spill_path.open(
                "a", encoding="utf-8", errors="backslashreplace"
            ) as spill:
                for record in batch:
                    row = record.execution_row() | {"calls": record.call_rows()}
                    spill.write(json.dumps(row, default=str) + "\n")
        except OSError as exc:
            log.error(
                "recorder.spill_failed",
                records=len(batch),
                path=str(self._spill_path),
                error=type(exc).__name__,
            )
            return
        self.spilled += len(batch)
        log.error(
            "recorder.records_spilled", records=len(batch), path=str(self._spill_path)
        )
