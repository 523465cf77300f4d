"""Breaker state storage: the store protocol, the in-process store, the fallback.

A store applies a change to one vendor's record atomically: the change is a
function of the record and the store's current time, and no other change to
that vendor can interleave with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from waterfall.breaker.rule import State, VendorRecord
from waterfall.clock import Clock
from waterfall.errors import BreakerStoreError
from waterfall.logging import get_logger

T = TypeVar("T")
Change = Callable[[VendorRecord, float], T]

log = get_logger("breaker.store")


@dataclass(frozen=True)
class Update(Generic[T]):
    """The outcome of one atomic change: state before, record after, result."""

    before: State
    record: VendorRecord
    result: T
    now: float


class BreakerStore(Protocol):
    """Keeps every vendor's record and applies changes atomically."""

    def now(self) -> float:
        """Return the store's current time in epoch seconds."""
        ...

    def update(self, vendor: str, change: Change[T]) -> Update[T]:
        """Apply change to the vendor's record atomically and save the result."""
        ...

    def read(self, vendors: Iterable[str]) -> tuple[dict[str, VendorRecord], float]:
        """Return the vendors' records and the time they were read at."""
        ...


class MemoryBreakerStore:
    """Breaker state in this process only, behind one lock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[str, str] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the injected clock's time in epoch seconds."""
        return self._clock.now().timestamp()

    def update(self, vendor: str, change: Change[T]) -> Update[T]:
        """Apply change under the lock."""
        with self._lock:
            now = self.now()
            saved = self._records.get(vendor)
            record = VendorRecord.from_json(saved)
            before = record.state
            result = change(record, now)
            text = record.to_json()
            if text != saved:
                self._records[vendor] = text
        return Update(before, record, result, now)

    def read(self, vendors: Iterable[str]) -> tuple[dict[str, VendorRecord], float]:
        """Return copies of the vendors' records."""
        with self._lock:
            records = {
                vendor: VendorRecord.from_json(self._records.get(vendor))
                for vendor in vendors
            }
            return records, self.now()


class FallbackStore:
    """A shared store that falls back to an in-process one while it is unreachable.

    After a failure the local store serves every call for `retry_s` seconds of
    the clock; then the shared store is tried again. When it responds, the
    local state is dropped, because the shared state is the one that counts.
    """

    def __init__(
        self, shared: BreakerStore, clock: Clock, retry_s: float = 5.0
    ) -> None:
        self._shared = shared
        self._clock = clock
        self._retry_s = retry_s
        self._local = MemoryBreakerStore(clock)
        self._lock = threading.Lock()
        self._retry_at: float | None = None
        self._failures = 0

    @property
    def degraded(self) -> bool:
        """True while calls go to the local store."""
        return self._retry_at is not None

    def now(self) -> float:
        """Return the time of the store that serves calls now."""
        return self._call(lambda store: store.now())

    def update(self, vendor: str, change: Change[T]) -> Update[T]:
        """Apply change on the shared store, or locally while it is unreachable."""
        return self._call(lambda store: store.update(vendor, change))

    def read(self, vendors: Iterable[str]) -> tuple[dict[str, VendorRecord], float]:
        """Read from the shared store, or locally while it is unreachable."""
        names = list(vendors)
        return self._call(lambda store: store.read(names))

    def _call(self, operation: Callable[[BreakerStore], T]) -> T:
        local_now = self._clock.now().timestamp()
        with self._lock:
            waiting = self._retry_at is not None and local_now < self._retry_at
        if waiting:
            return operation(self._local)
        try:
            result = operation(self._shared)
        except BreakerStoreError as exc:
            self._note_failure(local_now, exc)
            return operation(self._local)
        self._note_success()
        return result

    def _note_failure(self, now: float, exc: BreakerStoreError) -> None:
        with self._lock:
            first = self._retry_at is None
            self._retry_at = now + self._retry_s
            self._failures += 1
        if first:
            log.warning(
                "breaker.store_unavailable",
                error=str(exc.__cause__ or exc),
                retry_s=self._retry_s,
            )

    def _note_success(self) -> None:
        with self._lock:
            if self._retry_at is None:
                return
            failures, self._failures = self._failures, 0
            self._retry_at = None
            self._local = MemoryBreakerStore(self._clock)
        log.info("breaker.store_recovered", failed_attempts=failures)
