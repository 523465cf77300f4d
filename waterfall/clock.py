"""Injectable clocks: the system clock and a simulated clock for days in seconds."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that moves only when advanced or set; safe to share between threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(
                f"start {start!r} is naive: pass a timezone-aware datetime"
            )
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by delta and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a clock backwards by {delta}")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to a later moment."""
        with self._lock:
            if moment < self._now:
                raise ValueError(
                    f"cannot move the clock back from {self._now} to {moment}"
                )
            self._now = moment


def as_utc(moment: datetime) -> datetime:
    """Treat a naive datetime (as SQLite returns them) as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class SharedClock:
    """A simulated clock that other processes read through shared memory.

    The demo runs the vendor simulator in a child process so that it uses the
    second core. Both processes must agree on the simulated time, so it is
    kept in one multiprocessing.Value of epoch seconds. Pass the clock to the child
    as a Process argument.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(
                f"start {start!r} is naive: pass a timezone-aware datetime"
            )
        self._epoch = multiprocessing.get_context("spawn").Value("d", start.timestamp())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._epoch.value, UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by delta and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a clock backwards by {delta}")
        with self._epoch.get_lock():
            self._epoch.value += delta.total_seconds()
            return datetime.fromtimestamp(self._epoch.value, UTC)

    def set(self, moment: datetime) -> None:
        """Jump to a later moment."""
        with self._epoch.get_lock():
            if moment.timestamp() < self._epoch.value:
                raise ValueError(
                    f"cannot move the clock back from {self.now()} to {moment}"
                )
            self._epoch.value = moment.timestamp()
