"""Assemble a working search stack (adapters, recorder, service) from a runtime."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vendors.adapters import build_adapters
from vendors.protocol import SearchQuery, VendorAdapter
from waterfall.alerts.breaker_alert import BreakerAlertListener, breaker_alert_listener
from waterfall.alerts.runner import alert_config
from waterfall.breaker import CircuitBreaker, TransitionListener, build_breaker
from waterfall.executor import WaterfallExecutor
from waterfall.recorder import ExecutionRecorder
from waterfall.runtime import Runtime
from waterfall.search import SearchService
from waterfall.slack.notifier import NullNotifier
from waterfall.store.models import Vendor


@dataclass
class SearchStack:
    """Everything a search needs; close it to flush records and HTTP clients."""

    adapters: dict[str, VendorAdapter]
    recorder: ExecutionRecorder
    service: SearchService
    breaker: CircuitBreaker | None = None
    breaker_alerts: BreakerAlertListener | None = None

    async def aclose(self) -> None:
        """Let shadows end, write queued records, send queued alerts, close clients."""
        await self.service.drain_shadows()
        self.recorder.close()
        if self.breaker_alerts is not None:
            await asyncio.to_thread(self.breaker_alerts.flush)
        for adapter in self.adapters.values():
            await adapter.aclose()


def build_stack(
    runtime: Runtime,
    base_url_override: str | None = None,
    spill_path: Path | None = None,
    breaker_listeners: Iterable[TransitionListener] = (),
    with_breaker: bool | None = None,
) -> SearchStack:
    """Build adapters for every stored vendor and a service routing between configs.

    The executor consults a circuit breaker before each vendor call unless
    with_breaker is False (default: the breaker_enabled setting).
    breaker_listeners are called with each breaker transition. When Slack is
    configured, the breaker alert of config/alerts.yaml listens too.
    """
    timeout_s = runtime.settings.vendor_timeout_s
    with runtime.store.session() as session:
        vendors = [
            {
                "name": v.name,
                "base_url": v.base_url,
                "wire": v.wire,
                "cost_per_call": float(v.cost_per_call),
                "timeout_s": timeout_s or v.timeout_s,
            }
            for v in session.scalars(select(Vendor))
        ]
    override = base_url_override or runtime.settings.vendor_base_url
    adapters: dict[str, VendorAdapter] = dict(build_adapters(vendors, override))
    recorder = ExecutionRecorder(
        runtime.store,
        runtime.settings.recorder_batch_size,
        spill_path=spill_path or runtime.settings.spill_path,
    )
    enabled = runtime.settings.breaker_enabled if with_breaker is None else with_breaker
    alerts = _breaker_alerts(runtime) if enabled else None
    listeners: list[TransitionListener] = list(breaker_listeners)
    if alerts is not None:
        listeners.append(alerts)
    breaker = build_breaker(runtime, listeners) if enabled else None
    executor = WaterfallExecutor(adapters, runtime.clock, gate=breaker)
    service = SearchService(
        runtime.store,
        adapters,
        recorder,
        runtime.clock,
        runtime.plan.rollout_name,
        executor=executor,
        shadow_timeout_s=runtime.settings.shadow_timeout_s,
    )
    return SearchStack(adapters, recorder, service, breaker, alerts)


def _breaker_alerts(runtime: Runtime) -> BreakerAlertListener | None:
    if isinstance(runtime.slack(), NullNotifier):
        return None
    return breaker_alert_listener(runtime, alert_config(runtime))


def candidate_ref(first_name: str, last_name: str, company: str, key: str) -> str:
    """Derive a stable candidate id from the criteria, keyed so it cannot be reversed.

    An unkeyed hash of a name and a company could be reversed by hashing
    lists of names; the key (a secret setting) prevents that.
    """
    parts = (first_name, last_name, company)
    text = "|".join(part.strip().lower() for part in parts)
    digest = hashlib.blake2b(text.encode(), key=key.encode()[:64], digest_size=8)
    return "cand-" + digest.hexdigest()


async def run_single_search(
    runtime: Runtime,
    subject: str,
    first_name: str,
    last_name: str,
    company: str,
    title: str,
    country: str,
) -> dict[str, Any]:
    """Run one search and return the record and the contact found, as JSON data."""
    stack = build_stack(runtime)
    key = runtime.settings.candidate_ref_key.get_secret_value()
    query = SearchQuery(
        candidate_ref(first_name, last_name, company, key),
        first_name,
        last_name,
        company,
        title,
        country,
    )
    try:
        result = await stack.service.search(subject, query)
    finally:
        await stack.aclose()
    output = result.record.log_fields()
    if result.profile is not None:
        output["contact"] = {
            "email": result.profile.email,
            "phone": result.profile.phone,
            "last_verified_at": result.profile.last_verified_at.isoformat(),
        }
    return output
