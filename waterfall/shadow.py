"""Shadow traffic: run the other waterfall config beside each primary search.

The primary search starts its shadow as an asyncio task and returns as soon
as its own result is ready; it never awaits the shadow. The shadow has its
own timeout. A shadow that times out or fails is logged, counted and stored
as an incomplete execution, and never reaches the caller.

The switch (on or off, the share of searches shadowed, the share of those
run as A/A) is stored in `shadow_state` and read with the rollout percentage
on every search, so a change applies to the next search.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from vendors.protocol import SearchQuery
from waterfall.errors import RolloutError
from waterfall.executor import WaterfallExecutor
from waterfall.ledger import CallLedger
from waterfall.logging import get_logger
from waterfall.records import ExecutionRecord
from waterfall.routing import OPTIMIZED, STANDARD, RouteDecision
from waterfall.store import Store
from waterfall.store import repository as repo

log = get_logger("shadow")

SHADOW_TIMEOUT = "shadow_timeout"
SHADOW_FAILED = "shadow_failed"
_UNIT_SPACE = float(2**64)


@dataclass(frozen=True)
class ShadowSwitch:
    """The stored shadow settings: on or off, and the shares of searches."""

    enabled: bool = False
    share: float = 1.0
    aa_share: float = 0.0


OFF = ShadowSwitch()


@dataclass(frozen=True)
class ShadowPlan:
    """The shadow run one search gets: its config and whether it is an A/A run."""

    config_name: str
    is_aa: bool


@dataclass
class ShadowStats:
    """Counters of this process's shadow runs since it started."""

    started: int = 0
    completed: int = 0
    timed_out: int = 0
    failed: int = 0
    reused_calls: int = 0
    cost: float = 0.0
    cost_saved: float = 0.0


def _unit(search_id: str, purpose: str) -> float:
    """Map a search id to a stable number in [0, 1) for one purpose."""
    digest = hashlib.blake2b(
        search_id.encode(), digest_size=8, key=purpose.encode()
    ).digest()
    return int.from_bytes(digest, "big") / _UNIT_SPACE


def plan_shadow(
    search_id: str, primary_config: str, switch: ShadowSwitch
) -> ShadowPlan | None:
    """Decide whether a search gets a shadow run and on which config.

    The draws hash the search id, so the choice is random across searches
    but the same when the decision is repeated for one search.
    """
    if not switch.enabled or _unit(search_id, "shadow") >= switch.share:
        return None
    if _unit(search_id, "aa") < switch.aa_share:
        return ShadowPlan(primary_config, is_aa=True)
    other = OPTIMIZED if primary_config == STANDARD else STANDARD
    return ShadowPlan(other, is_aa=False)


@dataclass
class ShadowRunner:
    """Starts, times out and records the shadow runs of one search service."""

    executor: WaterfallExecutor
    vendors_of: Callable[[str], list[str]]
    emit: Callable[[ExecutionRecord], None]
    rollout_name: str
    timeout_s: float
    stats: ShadowStats = field(default_factory=ShadowStats)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(
        self,
        plan: ShadowPlan,
        query: SearchQuery,
        decision: RouteDecision,
        search_id: str,
        ledger: CallLedger | None,
        started_at: datetime,
    ) -> asyncio.Task[None]:
        """Start the shadow run as a task; the caller must not await it."""
        self.stats.started += 1
        task = asyncio.create_task(
            self._run(plan, query, decision, search_id, ledger, started_at),
            name=f"shadow-{search_id}",
        )
        # The loop keeps only weak references to tasks: hold one until done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for every running shadow; each ends within the shadow timeout."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(
        self,
        plan: ShadowPlan,
        query: SearchQuery,
        decision: RouteDecision,
        search_id: str,
        ledger: CallLedger | None,
        started_at: datetime,
    ) -> None:
        partial: list[ExecutionRecord] = []
        try:
            async with asyncio.timeout(self.timeout_s):
                vendors = self.vendors_of(plan.config_name)
                result = await self.executor.execute(
                    vendors,
                    query,
                    decision,
                    plan.config_name,
                    self.rollout_name,
                    search_id=search_id,
                    is_shadow=True,
                    reuse_from=ledger,
                    on_start=partial.append,
                )
        except TimeoutError:
            record = self._cut_short(plan, decision, search_id, started_at, partial)
            record.latency_ms = self.timeout_s * 1000.0
            self._incomplete(record, SHADOW_TIMEOUT)
            return
        except Exception as exc:
            # A shadow fault is survived here: it must never reach the caller.
            record = self._cut_short(plan, decision, search_id, started_at, partial)
            self._incomplete(record, SHADOW_FAILED, exc)
            return
        self._complete(result.record)

    def _cut_short(
        self,
        plan: ShadowPlan,
        decision: RouteDecision,
        search_id: str,
        started_at: datetime,
        partial: list[ExecutionRecord],
    ) -> ExecutionRecord:
        """Return the record of a shadow run that ended early, with its calls so far.

        Vendors bill the calls made before the run ended, so they are kept.
        NOTE: a call still in flight when a timeout cancelled the run is not
        recorded, although the vendor may bill it.
        """
        if not partial:
            return incomplete_record(
                plan, decision, search_id, started_at, self.rollout_name
            )
        return partial[0]

    def _complete(self, record: ExecutionRecord) -> None:
        self.stats.completed += 1
        self.stats.cost += record.cost
        self.stats.cost_saved += record.cost_saved
        self.stats.reused_calls += sum(1 for c in record.calls if c.reused_from)
        self.emit(record)

    def _incomplete(
        self, record: ExecutionRecord, error_type: str, exc: Exception | None = None
    ) -> None:
        record.error_occurred = True
        record.error_type = error_type
        self.stats.cost += record.cost
        if error_type == SHADOW_TIMEOUT:
            self.stats.timed_out += 1
        else:
            self.stats.failed += 1
        log.warning(
            "shadow.incomplete",
            search_id=record.search_id,
            config_name=record.config_name,
            error_type=error_type,
            error=None if exc is None else type(exc).__name__,
            timeout_s=self.timeout_s,
            timed_out_total=self.stats.timed_out,
            failed_total=self.stats.failed,
            calls_made=len(record.calls),
        )
        self.emit(record)


def incomplete_record(
    plan: ShadowPlan,
    decision: RouteDecision,
    search_id: str,
    started_at: datetime,
    rollout_name: str,
) -> ExecutionRecord:
    """Build the record of a shadow run that ended before its first call."""
    return ExecutionRecord(
        id=str(uuid.uuid4()),
        search_id=search_id,
        subject_id=decision.subject_id,
        config_name=plan.config_name,
        is_shadow=True,
        rollout_name=rollout_name,
        rollout_percentage=decision.percentage,
        route_bucket=decision.bucket,
        route_reason=decision.reason,
        started_at=started_at,
        criteria={},
    )


# ---------------------------------------------------------------- the switch


MAX_ACTOR_CHARS = 128  # the width of shadow_history.changed_by


def set_shadow(
    store: Store,
    rollout_name: str,
    switch: ShadowSwitch,
    actor: str,
    reason: str,
    now: datetime,
) -> ShadowSwitch:
    """Store the shadow switch; the next search reads it. Returns the old one."""
    for name, share in (("share", switch.share), ("A/A share", switch.aa_share)):
        if not 0 <= share <= 1:
            raise RolloutError(
                f"shadow {name} {share} is outside 0..1: pass a fraction, "
                "e.g. 0.25 for a quarter of searches"
            )
    if not reason.strip():
        raise RolloutError("a reason is required: say why shadow traffic changes")
    if not actor.strip() or len(actor) > MAX_ACTOR_CHARS:
        raise RolloutError(
            f"actor {actor[:40]!r} is invalid: give a name of 1 to "
            f"{MAX_ACTOR_CHARS} characters"
        )
    with store.session() as session:
        old = repo.set_shadow_state(
            session,
            rollout_name,
            switch.enabled,
            switch.share,
            switch.aa_share,
            actor,
            reason,
            now,
        )
    log.info(
        "shadow.switched",
        rollout=rollout_name,
        enabled=switch.enabled,
        share=switch.share,
        aa_share=switch.aa_share,
        actor=actor,
        reason=reason,
    )
    return OFF if old is None else ShadowSwitch(*old)


def get_shadow(store: Store, rollout_name: str) -> ShadowSwitch:
    """Return the stored shadow switch; off when it was never set."""
    with store.session() as session:
        state = repo.get_shadow_state(session, rollout_name)
        if state is None:
            return OFF
        return ShadowSwitch(state.enabled, state.share, state.aa_share)
