"""The execution record: what one waterfall run did, as logged and stored."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass
class CallRecord:
    """One vendor attempt."""

    vendor: str
    position: int
    outcome: str
    status_code: int | None
    error_type: str | None
    latency_ms: float
    cost: float
    started_at: datetime
    reused_from: str | None = None  # the primary execution whose response was reused
    cost_saved: float = 0.0


@dataclass
class ExecutionRecord:
    """One waterfall execution. Contains no names, emails or phones."""

    id: str
    search_id: str
    subject_id: str
    config_name: str
    is_shadow: bool
    rollout_name: str
    rollout_percentage: float
    route_bucket: float
    route_reason: str
    started_at: datetime
    criteria: dict[str, Any]
    positions_tried: list[int] = field(default_factory=list)
    position_hit: int | None = None
    vendor_hit: str | None = None
    vendor_record_id: str | None = None
    last_verified_at: datetime | None = None
    staleness_days: float | None = None
    has_email: bool = False
    has_phone: bool = False
    latency_ms: float = 0.0
    error_occurred: bool = False
    error_type: str | None = None
    result_count: int = 0
    cost: float = 0.0
    cost_saved: float = 0.0
    calls: list[CallRecord] = field(default_factory=list)

    def execution_row(self) -> dict[str, Any]:
        """Return the columns of search_executions."""
        # A shallow copy: dataclasses.asdict deep-copies every value, and this
        # runs for every search on the recorder thread, which shares the GIL.
        return {name: getattr(self, name) for name in _EXECUTION_COLUMNS}

    def call_rows(self) -> list[dict[str, Any]]:
        """Return the rows of vendor_calls."""
        return [
            {
                "execution_id": self.id,
                **{name: getattr(call, name) for name in _CALL_COLUMNS},
            }
            for call in self.calls
        ]

    def log_fields(self) -> dict[str, Any]:
        """Return the fields of the structured search event."""
        return {
            "execution_id": self.id,
            "search_id": self.search_id,
            "config_name": self.config_name,
            "is_shadow": self.is_shadow,
            "subject_id": self.subject_id,
            "timestamp": self.started_at.isoformat(),
            "criteria": self.criteria,
            "positions_tried": self.positions_tried,
            "position_hit": self.position_hit,
            "vendor_hit": self.vendor_hit,
            "response_time_ms": {c.vendor: round(c.latency_ms, 2) for c in self.calls},
            "total_time_ms": round(self.latency_ms, 2),
            "error_occurred": self.error_occurred,
            "error_type": self.error_type,
            "result_count": self.result_count,
            "cost": round(self.cost, 4),
            "cost_saved": round(self.cost_saved, 4),
            "route": {
                "config_name": self.config_name,
                "bucket": round(self.route_bucket, 4),
                "rollout_percentage": self.rollout_percentage,
                "reason": self.route_reason,
            },
        }


_EXECUTION_COLUMNS = tuple(f.name for f in fields(ExecutionRecord) if f.name != "calls")
_CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))
