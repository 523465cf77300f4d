"""The circuit breaker that the executor consults before each vendor call.

Every change of a vendor's reported state becomes a `Transition`, which is
logged, stored in `breaker_transitions` and passed to each listener, in that
order, by the one process whose atomic update made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from vendors.protocol import VendorResponse
from waterfall.breaker import rule
from waterfall.breaker.rule import Admission, BreakerRule, State, VendorRecord
from waterfall.breaker.stores import BreakerStore, Update
from waterfall.errors import BreakerStoreError, InvalidRequestError
from waterfall.logging import get_logger
from waterfall.store import Store
from waterfall.store import repository as repo

T = TypeVar("T")
# A change to one vendor's record: returns its result and the reasons of any
# state change it made.
ReasonedChange = Callable[[VendorRecord, float], tuple[T, list[str]]]

log = get_logger("breaker")


@dataclass(frozen=True)
class Transition:
    """One change of a vendor's reported state, as stored and published."""

    vendor: str
    from_state: State
    to_state: State
    reason: str
    error_rate: float | None
    calls_in_window: int
    changed_at: datetime
    actor: str | None = None


TransitionListener = Callable[[Transition], None]


@dataclass(frozen=True)
class VendorStatus:
    """A vendor's breaker as `waterfall breaker status` shows it."""

    vendor: str
    state: State
    error_rate: float | None
    calls_in_window: int
    errors_in_window: int
    next_probe_in_s: float | None  # OPEN: seconds until probes may start
    hold_ends_in_s: float | None  # RATE_LIMITED: seconds until the reset time


class CircuitBreaker:
    """Per-vendor breakers over one store; a store failure never fails a search."""

    def __init__(
        self,
        store: BreakerStore,
        breaker_rule: BreakerRule,
        journal: Store | None = None,
        listeners: Iterable[TransitionListener] = (),
    ) -> None:
        self.store = store
        self.rule = breaker_rule
        self._journal = journal
        self._listeners = list(listeners)

    def add_listener(self, listener: TransitionListener) -> None:
        """Call listener(transition) after every stored transition from now on."""
        self._listeners.append(listener)

    def admit(self, vendor: str) -> Admission:
        """Decide whether a call to the vendor may go out; admits if the store fails."""

        def change(record: VendorRecord, now: float) -> tuple[Admission, list[str]]:
            return rule.admit(record, now, self.rule)

        try:
            return self._apply(vendor, change)
        except BreakerStoreError as exc:
            log.error("breaker.admit_failed", vendor=vendor, error=str(exc))
            return Admission(True, State.CLOSED)

    def record(
        self, vendor: str, admission: Admission, response: VendorResponse
    ) -> None:
        """Record an admitted call's outcome as a signal of the vendor's health."""
        signal = rule.signal_of(response.outcome)
        if signal is rule.Signal.NONE:
            return

        def change(record: VendorRecord, now: float) -> tuple[None, list[str]]:
            reasons = rule.record_signal(
                record, now, self.rule, admission, signal, response.retry_after_s
            )
            return None, reasons

        try:
            self._apply(vendor, change)
        except BreakerStoreError as exc:
            log.error("breaker.record_failed", vendor=vendor, error=str(exc))

    def reset(self, vendor: str, actor: str, reason: str) -> Transition:
        """Close a vendor's breaker by hand and clear its holds; always stored."""
        if not reason.strip():
            raise InvalidRequestError(
                "the reset reason is empty: say why the vendor is healthy again"
            )

        def change(record: VendorRecord, now: float) -> tuple[None, list[str]]:
            rule.reset(record)
            return None, [f"reset by {actor}: {reason}"]

        update = self.store.update(vendor, change)
        transition = self._transition(vendor, update, update.result[1], actor)
        self._publish(transition)
        return transition

    def status(self, vendors: Iterable[str]) -> list[VendorStatus]:
        """Return each vendor's state and window as stored now."""
        records, now = self.store.read(vendors)
        return [self._status(name, record, now) for name, record in records.items()]

    def _status(self, vendor: str, record: VendorRecord, now: float) -> VendorStatus:
        calls, errors = record.window(now, self.rule)
        next_probe = None
        if record.breaker is State.OPEN and record.opened_at is not None:
            next_probe = max(0.0, record.opened_at + self.rule.cooldown_s - now)
        hold_ends = None
        if record.rate_limited_until is not None:
            hold_ends = max(0.0, record.rate_limited_until - now)
        rate = errors / calls if calls else None
        return VendorStatus(
            vendor, record.state, rate, calls, errors, next_probe, hold_ends
        )

    def _apply(self, vendor: str, change: ReasonedChange[T]) -> T:
        update = self.store.update(vendor, change)
        result, reasons = update.result
        if update.before is not update.record.state:
            self._publish(self._transition(vendor, update, reasons, None))
        return result

    def _transition(
        self,
        vendor: str,
        update: Update[tuple[T, list[str]]],
        reasons: list[str],
        actor: str | None,
    ) -> Transition:
        calls, _errors = update.record.window(update.now, self.rule)
        return Transition(
            vendor=vendor,
            from_state=update.before,
            to_state=update.record.state,
            reason="; ".join(reasons) or "state changed",
            error_rate=rule.error_rate(update.record, update.now, self.rule),
            calls_in_window=calls,
            changed_at=datetime.fromtimestamp(update.now, UTC),
            actor=actor,
        )

    def _publish(self, transition: Transition) -> None:
        fields = {
            "vendor": transition.vendor,
            "from_state": transition.from_state.value,
            "to_state": transition.to_state.value,
            "reason": transition.reason,
            "error_rate": transition.error_rate,
            "calls_in_window": transition.calls_in_window,
            "changed_at": transition.changed_at.isoformat(),
            "actor": transition.actor,
        }
        alarming = transition.to_state in (State.OPEN, State.OUT_OF_CREDIT)
        (log.warning if alarming else log.info)("breaker.transition", **fields)
        self._store_row(transition)
        for listener in list(self._listeners):
            try:
                listener(transition)
            except Exception as exc:  # a listener's bug must not fail a search
                log.error(
                    "breaker.listener_failed",
                    vendor=transition.vendor,
                    listener=getattr(listener, "__qualname__", repr(listener)),
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                )

    def _store_row(self, transition: Transition) -> None:
        if self._journal is None:
            return
        try:
            with self._journal.session() as session:
                repo.add_breaker_transition(
                    session,
                    vendor=transition.vendor,
                    from_state=transition.from_state.value,
                    to_state=transition.to_state.value,
                    reason=transition.reason,
                    error_rate=transition.error_rate,
                    changed_at=transition.changed_at,
                )
        except SQLAlchemyError as exc:
            log.error(
                "breaker.transition_not_stored",
                vendor=transition.vendor,
                to_state=transition.to_state.value,
                error=type(exc).__name__,
            )
