"""Reads and writes of alerts and maintenance windows, in SQLAlchemy 2 style."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from waterfall.store.models import (
    AlertEvent,
    MaintenanceWindow,
    SearchExecution,
    Vendor,
    WaterfallConfigEntry,
)


def add_maintenance_window(
    session: Session, starts_at: datetime, ends_at: datetime, reason: str, actor: str
) -> MaintenanceWindow:
    """Store a maintenance window."""
    window = MaintenanceWindow(
        starts_at=starts_at, ends_at=ends_at, reason=reason, created_by=actor
    )
    session.add(window)
    session.flush()
    return window


def maintenance_windows(
    session: Session, ending_after: datetime | None = None
) -> list[MaintenanceWindow]:
    """Return stored windows by start time, optionally only those not yet over."""
    query = select(MaintenanceWindow)
    if ending_after is not None:
        query = query.where(MaintenanceWindow.ends_at > ending_after)
    order = (MaintenanceWindow.starts_at, MaintenanceWindow.id)
    return list(session.scalars(query.order_by(*order)))


def window_at(session: Session, moment: datetime) -> MaintenanceWindow | None:
    """Return the earliest-started window that covers moment, if any."""
    return session.scalars(
        select(MaintenanceWindow)
        .where(
            MaintenanceWindow.starts_at <= moment, MaintenanceWindow.ends_at > moment
        )
        .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        .limit(1)
    ).first()


def latest_alert(
    session: Session, fingerprint: str, status: str, window_id: int | None = None
) -> AlertEvent | None:
    """Return the newest alert row of a fingerprint in a status (and window)."""
    query = select(AlertEvent).where(
        AlertEvent.fingerprint == fingerprint, AlertEvent.status == status
    )
    if window_id is not None:
        query = query.where(AlertEvent.maintenance_window_id == window_id)
    return session.scalars(query.order_by(AlertEvent.id.desc()).limit(1)).first()


def alert_events(session: Session, limit: int = 50) -> list[AlertEvent]:
    """Return stored alert rows, newest first."""
    query = select(AlertEvent).order_by(AlertEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


def execution_latencies(
    session: Session, start: datetime, end: datetime
) -> list[tuple[str, float]]:
    """Return (config, latency_ms) of each primary execution started in [start, end)."""
    rows = session.execute(
        select(SearchExecution.config_name, SearchExecution.latency_ms).where(
            SearchExecution.started_at >= start,
            SearchExecution.started_at < end,
            SearchExecution.is_shadow.is_(False),
        )
    )
    return [(config, latency) for config, latency in rows]


def first_vendors(session: Session, config_names: Iterable[str]) -> dict[str, str]:
    """Map each config to the vendor it calls first: its lowest active position."""
    rows = session.execute(
        select(WaterfallConfigEntry.config_name, Vendor.name)
        .join(Vendor, Vendor.id == WaterfallConfigEntry.vendor_id)
        .where(
            WaterfallConfigEntry.config_name.in_(list(config_names)),
            WaterfallConfigEntry.is_active,
        )
        .order_by(WaterfallConfigEntry.config_name, WaterfallConfigEntry.position)
    )
    first: dict[str, str] = {}
    for config, vendor in rows:
        first.setdefault(config, vendor)
    return first
