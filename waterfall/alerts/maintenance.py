"""Maintenance windows: stored periods in which alerts are suppressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from waterfall.errors import InvalidRequestError
from waterfall.store import Store
from waterfall.store import alert_repository as alert_repo
from waterfall.store.models import MaintenanceWindow


@dataclass(frozen=True)
class WindowView:
    """A maintenance window as the commands show it."""

    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


def parse_moment(text: str, name: str) -> datetime:
    """Parse an ISO 8601 date and time; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidRequestError(
            f"{name} {text!r} is not an ISO 8601 date and time: write it like "
            "2026-09-01T22:00 or 2026-09-01T22:00+02:00"
        ) from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def add_window(
    store: Store,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: str,
    now: datetime,
) -> WindowView:
    """Validate and store a window; alerts checked inside it are suppressed."""
    if ends_at <= starts_at:
        raise InvalidRequestError(
            f"END {ends_at.isoformat()} is not after START {starts_at.isoformat()}: "
            "give an END later than START"
        )
    if ends_at <= now:
        raise InvalidRequestError(
            f"END {ends_at.isoformat()} is already past (now {now.isoformat()}): a "
            "window only suppresses alerts checked before its END"
        )
    if not reason.strip():
        raise InvalidRequestError(
            "the reason is empty: say what the maintenance is, e.g. --reason "
            "'Vendor_D API upgrade'"
        )
    with store.session() as session:
        row = alert_repo.add_maintenance_window(
            session, starts_at, ends_at, reason.strip(), actor
        )
        return _view(row)


def list_windows(
    store: Store, now: datetime, include_past: bool = False
) -> list[WindowView]:
    """Return current and future windows by start, or every window."""
    with store.session() as session:
        rows = alert_repo.maintenance_windows(session, None if include_past else now)
        return [_view(row) for row in rows]


def _view(row: MaintenanceWindow) -> WindowView:
    return WindowView(row.id, row.starts_at, row.ends_at, row.reason, row.created_by)
