"""The search entry point: route, execute, log and record one search."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from vendors.protocol import ContactProfile, SearchQuery, VendorAdapter
from waterfall.clock import Clock
from waterfall.errors import InvalidRequestError
from waterfall.executor import ExecutionResult, WaterfallExecutor
from waterfall.ledger import CallLedger
from waterfall.logging import get_logger
from waterfall.recorder import ExecutionRecorder
from waterfall.records import ExecutionRecord
from waterfall.routing import RouteDecision, normalise_subject, route
from waterfall.shadow import OFF, ShadowRunner, ShadowSwitch, plan_shadow
from waterfall.store import Store
from waterfall.store.models import RolloutState, ShadowState
from waterfall.store.repository import load_waterfall

log = get_logger("search")


@dataclass(frozen=True)
class SearchResult:
    """The result of one search for its caller; `profile` contains PII."""

    search_id: str
    decision: RouteDecision
    record: ExecutionRecord
    profile: ContactProfile | None


def _check_query(query: SearchQuery) -> None:
    for field in ("candidate_ref", "first_name", "last_name", "company"):
        value = getattr(query, field)
        if not value.strip():
            raise InvalidRequestError(
                f"search criterion '{field}' is empty: fill it in"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(
                f"search criterion '{field}' is not valid UTF-8 text"
            ) from exc


class ConfigCache:
    """Waterfall orders by config name, reread after `ttl_s` seconds.

    Configs change rarely and only through validated saves, so a short cache
    keeps the store off the hot path; the rollout percentage is not cached.
    """

    def __init__(self, store: Store, ttl_s: float = 5.0) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, list[str]]] = {}

    def vendors(self, config_name: str) -> list[str]:
        """Return the vendor names of a config in position order."""
        cached = self._entries.get(config_name)
        if cached and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        with self._store.session() as session:
            names = [vendor.name for vendor in load_waterfall(session, config_name)]
        self._entries[config_name] = (time.monotonic(), names)
        return names


class SearchService:
    """Routes each search by the stored rollout percentage and runs its waterfall."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, VendorAdapter],
        recorder: ExecutionRecorder,
        clock: Clock,
        rollout_name: str,
        executor: WaterfallExecutor | None = None,
        shadow_timeout_s: float = 5.0,
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._rollout_name = rollout_name
        self._configs = ConfigCache(store)
        # One statement needs no transaction: autocommit saves the BEGIN and
        # ROLLBACK round trips a pooled connection would add to every search.
        self._read_engine = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        # The shadow switch comes in the same round trip as the percentage.
        self._state_query = (
            select(
                RolloutState.percentage,
                ShadowState.enabled,
                ShadowState.share,
                ShadowState.aa_share,
            )
            .select_from(RolloutState)
            .outerjoin(
                ShadowState, ShadowState.rollout_name == RolloutState.rollout_name
            )
            .where(RolloutState.rollout_name == rollout_name)
        )
        self._clock = clock
        self._executor = executor or WaterfallExecutor(adapters, clock)
        self.shadow = ShadowRunner(
            self._executor,
            self._configs.vendors,
            self._emit_shadow,
            rollout_name,
            shadow_timeout_s,
        )

    def decide(self, subject_id: str) -> RouteDecision:
        """Route a subject at the percentage stored right now."""
        percentage, _switch = self._read_state()
        return route(self._rollout_name, subject_id, percentage)

    def _read_state(self) -> tuple[float, ShadowSwitch]:
        # A Core query: this runs on every search, and an ORM session costs
        # several times more.
        with self._read_engine.connect() as connection:
            row = connection.execute(self._state_query).first()
        if row is None:
            return 0.0, OFF
        percentage, enabled, share, aa_share = row
        if not enabled:
            return float(percentage), OFF
        return float(percentage), ShadowSwitch(True, float(share), float(aa_share))

    async def search(self, subject_id: str, query: SearchQuery) -> SearchResult:
        """Run one search on the subject's config, then log and record it.

        With the shadow switch on, the search also starts a shadow run of the
        other config and returns without waiting for it.
        """
        subject_id = normalise_subject(subject_id)
        _check_query(query)
        percentage, switch = self._read_state()
        decision = route(self._rollout_name, subject_id, percentage)
        vendors = self._configs.vendors(decision.config_name)
        search_id = str(uuid.uuid4())
        ledger = self._start_shadow(query, decision, search_id, switch)
        result = await self._executor.execute(
            vendors,
            query,
            decision,
            decision.config_name,
            self._rollout_name,
            search_id=search_id,
            publish_to=ledger,
        )
        self._emit(result)
        return SearchResult(search_id, decision, result.record, result.profile)

    def _start_shadow(
        self,
        query: SearchQuery,
        decision: RouteDecision,
        search_id: str,
        switch: ShadowSwitch,
    ) -> CallLedger | None:
        """Start the search's shadow run, if it gets one; return the call ledger.

        An A/A run makes its own calls: reusing the primary's responses would
        make the two runs identical and hide the vendor noise it measures.
        """
        plan = plan_shadow(search_id, decision.config_name, switch)
        if plan is None:
            return None
        ledger = None if plan.is_aa else CallLedger()
        self.shadow.start(plan, query, decision, search_id, ledger, self._clock.now())
        return ledger

    async def drain_shadows(self) -> None:
        """Wait until every running shadow run has ended and been recorded."""
        await self.shadow.drain()

    def _emit_shadow(self, record: ExecutionRecord) -> None:
        # A shadow's faults are survived and affect no user: never ERROR.
        if record.error_occurred:
            log.warning("search.executed", **record.log_fields())
        else:
            log.info("search.executed", **record.log_fields())
        self._recorder.submit(record)

    def _emit(self, result: ExecutionResult) -> None:
        record = result.record
        fields: dict[str, Any] = record.log_fields()
        if record.error_occurred and record.vendor_hit is None:
            log.error("search.executed", **fields)
        elif record.error_occurred:
            log.warning("search.executed", **fields)
        else:
            log.info("search.executed", **fields)
        self._recorder.submit(record)
