"""The waterfall executor: try vendors in position order until one hits."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from vendors.protocol import (
    ContactProfile,
    Outcome,
    SearchQuery,
    VendorAdapter,
    VendorResponse,
)
from waterfall.breaker.rule import Admission, State
from waterfall.clock import Clock
from waterfall.ledger import CallLedger
from waterfall.logging import get_logger
from waterfall.records import CallRecord, ExecutionRecord
from waterfall.routing import RouteDecision

SECONDS_PER_DAY = 86_400.0
# Vendors' clocks and date-only fields can run up to a day ahead of ours.
FUTURE_TOLERANCE = timedelta(days=1)

log = get_logger("executor")

# Vendors bill a request they reply to, hit or miss. Failed requests (5xx,
# timeouts, 402, 429) return no data and are not billed.
_BILLED = frozenset({Outcome.HIT, Outcome.MISS})


@dataclass(frozen=True)
class _Answer:
    """A vendor response and, when it was reused, where from and its own latency."""

    response: VendorResponse
    reused_from: str | None = None
    # Milliseconds the call took before this execution started waiting for it.
    unseen_ms: float = 0.0


@dataclass(frozen=True)
class ExecutionResult:
    """The record of an execution and the profile it returned, if any."""

    record: ExecutionRecord
    profile: ContactProfile | None


class VendorGate(Protocol):
    """Decides whether a vendor may be called and learns from each call."""

    def admit(self, vendor: str) -> Admission:
        """Decide whether a call to the vendor may go out."""
        ...

    def record(
        self, vendor: str, admission: Admission, response: VendorResponse
    ) -> None:
        """Learn from the response of an admitted call."""
        ...


_ALWAYS = Admission(True, State.CLOSED)


class WaterfallExecutor:
    """Runs one waterfall config for one query.

    A gate (the circuit breaker) may skip vendors: a skipped vendor is not
    called, costs nothing, and is recorded as a `skipped` call.
    """

    def __init__(
        self,
        adapters: Mapping[str, VendorAdapter],
        clock: Clock,
        should_skip: Callable[[str], bool] | None = None,
        gate: VendorGate | None = None,
    ) -> None:
        self._adapters = adapters
        self._clock = clock
        self._should_skip = should_skip or (lambda _vendor: False)
        self._gate = gate

    async def execute(
        self,
        vendors: Sequence[str],
        query: SearchQuery,
        decision: RouteDecision,
        config_name: str,
        rollout_name: str,
        search_id: str | None = None,
        is_shadow: bool = False,
        publish_to: CallLedger | None = None,
        reuse_from: CallLedger | None = None,
        on_start: Callable[[ExecutionRecord], None] | None = None,
    ) -> ExecutionResult:
        """Call vendors in order; a miss or an error falls through to the next.

        With publish_to, every call is shared there as it starts. With
        reuse_from, a vendor already called there is not called again: its
        response is reused, billed at 0 and its price counted as saved. The
        latency then counts the reused call's full duration, so that it is
        the latency this config would have had on its own. `on_start`
        receives the record before the first call, so a caller that cancels
        the execution still has the calls made so far.
        """
        started_at = self._clock.now()
        record = ExecutionRecord(
            id=str(uuid.uuid4()),
            search_id=search_id or str(uuid.uuid4()),
            subject_id=decision.subject_id,
            config_name=config_name,
            is_shadow=is_shadow,
            rollout_name=rollout_name,
            rollout_percentage=decision.percentage,
            route_bucket=decision.bucket,
            route_reason=decision.reason,
            started_at=started_at,
            criteria=query.sanitized(),
        )
        if publish_to is not None:
            publish_to.execution_id = record.id
        if on_start is not None:
            on_start(record)
        begin = time.perf_counter()
        profile = await self._walk(vendors, query, record, publish_to, reuse_from)
        record.latency_ms += (time.perf_counter() - begin) * 1000.0
        return ExecutionResult(record, profile)

    async def _walk(
        self,
        vendors: Sequence[str],
        query: SearchQuery,
        record: ExecutionRecord,
        publish_to: CallLedger | None,
        reuse_from: CallLedger | None,
    ) -> ContactProfile | None:
        started_at = record.started_at
        for position, vendor in enumerate(vendors, start=1):
            # A shadow reusing the primary's call neither requests admission nor
            # reports a result, because the primary's call was already counted.
            reusable = reuse_from is not None and reuse_from.has(vendor)
            admission = _ALWAYS if reusable else self._admit(vendor)
            if not admission.allowed:
                self._skip(record, vendor, position, admission.state, started_at)
                continue
            record.positions_tried.append(position)
            answer = await self._answer(vendor, query, publish_to, reuse_from)
            response = _checked(answer.response, started_at)
            record.latency_ms += answer.unseen_ms
            if self._gate is not None and not reusable:
                self._gate.record(vendor, admission, response)
            self._add_call(record, position, response, started_at, answer.reused_from)
            if response.outcome is Outcome.HIT and response.profiles:
                return _mark_hit(record, position, response, started_at)
        if vendors and not record.positions_tried:
            log.warning(
                "executor.all_vendors_skipped",
                config_name=record.config_name,
                search_id=record.search_id,
                vendors=len(vendors),
            )
        return None

    def _admit(self, vendor: str) -> Admission:
        if self._should_skip(vendor):
            return Admission(False, State.OPEN)
        if self._gate is None:
            return _ALWAYS
        return self._gate.admit(vendor)

    def _skip(
        self,
        record: ExecutionRecord,
        vendor: str,
        position: int,
        state: State,
        started_at: datetime,
    ) -> None:
        record.calls.append(_skipped_call(vendor, position, state, started_at))
        log.info(
            "executor.vendor_skipped",
            vendor=vendor,
            position=position,
            breaker_state=state.value,
            config_name=record.config_name,
            search_id=record.search_id,
        )

    async def _answer(
        self,
        vendor: str,
        query: SearchQuery,
        publish_to: CallLedger | None,
        reuse_from: CallLedger | None,
    ) -> _Answer:
        if reuse_from is not None and reuse_from.has(vendor):
            begin = time.perf_counter()
            shared = await reuse_from.wait(vendor)
            if shared is not None:
                waited_ms = (time.perf_counter() - begin) * 1000.0
                unseen_ms = max(shared.latency_ms - waited_ms, 0.0)
                return _Answer(shared, reuse_from.execution_id, unseen_ms)
        if publish_to is None:
            return _Answer(await self._call(vendor, query))
        entry = publish_to.open(vendor)
        try:
            response = await self._call(vendor, query)
            entry.set_result(response)
        finally:
            # A cancelled primary abandons the entry, so a waiting shadow calls
            # the vendor itself instead of waiting for nothing.
            if not entry.done():
                entry.cancel()
        return _Answer(response)

    async def _call(self, vendor: str, query: SearchQuery) -> VendorResponse:
        # Adapters map vendor faults to outcomes; anything that still escapes
        # is a fault of this vendor too, and must not fail the whole search.
        try:
            return await self._adapters[vendor].lookup(query)
        except Exception as exc:
            log.error(
                "executor.adapter_failed",
                vendor=vendor,
                error=type(exc).__name__,
                candidate_ref=query.candidate_ref,
            )
            return VendorResponse(
                vendor,
                Outcome.MALFORMED,
                0.0,
                error_type=f"adapter_{type(exc).__name__}",
            )

    def _add_call(
        self,
        record: ExecutionRecord,
        position: int,
        response: VendorResponse,
        started_at: datetime,
        reused_from: str | None = None,
    ) -> None:
        adapter = self._adapters[response.vendor]
        price = float(adapter.cost_per_call) if response.outcome in _BILLED else 0.0
        cost, saved = (0.0, price) if reused_from else (price, 0.0)
        record.cost += cost
        record.cost_saved += saved
        record.calls.append(
            CallRecord(
                vendor=response.vendor,
                position=position,
                outcome=response.outcome.value,
                status_code=response.status_code,
                error_type=response.error_type,
                latency_ms=response.latency_ms,
                cost=cost,
                started_at=started_at,
                reused_from=reused_from,
                cost_saved=saved,
            )
        )
        if response.outcome.is_error:
            record.error_occurred = True
            record.error_type = (
                record.error_type or response.error_type or response.outcome.value
            )


def _checked(response: VendorResponse, started_at: datetime) -> VendorResponse:
    """Treat a profile verified in the future as a malformed response."""
    if response.outcome is not Outcome.HIT:
        return response
    latest = max(profile.last_verified_at for profile in response.profiles)
    if latest <= started_at + FUTURE_TOLERANCE:
        return response
    return VendorResponse(
        response.vendor,
        Outcome.MALFORMED,
        response.latency_ms,
        response.status_code,
        error_type="verified_in_future",
    )


def _skipped_call(
    vendor: str, position: int, state: State, started_at: datetime
) -> CallRecord:
    # The error type names the reason, e.g. "breaker_open" or "breaker_out_of_credit".
    reason = f"breaker_{state.value.lower()}"
    return CallRecord(
        vendor, position, Outcome.SKIPPED.value, None, reason, 0.0, 0.0, started_at
    )


def _mark_hit(
    record: ExecutionRecord,
    position: int,
    response: VendorResponse,
    started_at: datetime,
) -> ContactProfile:
    profile = response.profiles[0]
    record.position_hit = position
    record.vendor_hit = response.vendor
    record.vendor_record_id = profile.vendor_record_id
    record.last_verified_at = profile.last_verified_at
    age = (started_at - profile.last_verified_at).total_seconds() / SECONDS_PER_DAY
    record.staleness_days = max(age, 0.0)
    record.has_email = profile.email is not None
    record.has_phone = profile.phone is not None
    record.result_count = response.result_count
    return profile
