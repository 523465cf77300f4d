"""SQLAlchemy 2 models of every table the system keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from waterfall.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type and returns naive values, so both directions
    normalise to UTC here instead of at every call site.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} cannot be stored: pass an aware one"
            )
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base of all models."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Vendor(Base):
    """A contact-data vendor the waterfall can call."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    base_url: Mapped[str] = mapped_column(String(512))
    wire: Mapped[str] = mapped_column(String(32))
    cost_per_call: Mapped[float] = mapped_column(Numeric(10, 4))
    timeout_s: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint("cost_per_call >= 0", name="ck_vendors_cost_non_negative"),
        CheckConstraint("timeout_s > 0", name="ck_vendors_timeout_positive"),
    )


class WaterfallConfigEntry(Base):
    """One position of a named waterfall config."""

    __tablename__ = "waterfall_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    config_name: Mapped[str] = mapped_column(String(64), index=True)
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="RESTRICT")
    )
    position: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        UniqueConstraint("config_name", "position", name="uq_config_position"),
        UniqueConstraint("config_name", "vendor_id", name="uq_config_vendor"),
        CheckConstraint("position >= 1", name="ck_config_position_positive"),
    )


class RolloutState(Base):
    """The current rollout percentage, read on every search."""

    __tablename__ = "rollout_state"

    rollout_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    percentage: Mapped[float] = mapped_column(Float, default=0.0)
    updated_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(
            "percentage >= 0 AND percentage <= 100", name="ck_rollout_percentage_range"
        ),
    )


class RolloutHistory(Base):
    """Every change of the rollout percentage, with who and why."""

    __tablename__ = "rollout_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_name: Mapped[str] = mapped_column(String(64), index=True)
    old_percentage: Mapped[float | None] = mapped_column(Float)
    new_percentage: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime]


class ShadowState(Base):
    """Whether shadow traffic runs and on which share of searches, read per search."""

    __tablename__ = "shadow_state"

    rollout_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    share: Mapped[float] = mapped_column(Float, default=1.0)
    aa_share: Mapped[float] = mapped_column(Float, default=0.0)
    updated_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("share >= 0 AND share <= 1", name="ck_shadow_share_range"),
        CheckConstraint(
            "aa_share >= 0 AND aa_share <= 1", name="ck_shadow_aa_share_range"
        ),
    )


class ShadowHistory(Base):
    """Every change of the shadow switch, with who and why."""

    __tablename__ = "shadow_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_name: Mapped[str] = mapped_column(String(64), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    share: Mapped[float] = mapped_column(Float)
    aa_share: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime]


class SearchExecution(Base):
    """One waterfall execution, primary or shadow. Holds no names, emails or phones."""

    __tablename__ = "search_executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    search_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_id: Mapped[str] = mapped_column(String(128))
    config_name: Mapped[str] = mapped_column(String(64))
    is_shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    rollout_name: Mapped[str] = mapped_column(String(64))
    rollout_percentage: Mapped[float] = mapped_column(Float)
    route_bucket: Mapped[float] = mapped_column(Float)
    route_reason: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    positions_tried: Mapped[list[int]] = mapped_column(JSON)
    position_hit: Mapped[int | None] = mapped_column(Integer)
    vendor_hit: Mapped[str | None] = mapped_column(String(64))
    vendor_record_id: Mapped[str | None] = mapped_column(String(128))
    last_verified_at: Mapped[datetime | None]
    staleness_days: Mapped[float | None] = mapped_column(Float)
    has_email: Mapped[bool] = mapped_column(Boolean, default=False)
    has_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float] = mapped_column(Float)
    error_occurred: Mapped[bool] = mapped_column(Boolean, default=False)
    error_type: Mapped[str | None] = mapped_column(String(64))
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    # Spend a shadow execution avoided by reusing its primary's vendor responses.
    cost_saved: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (
        Index("ix_executions_config_time", "config_name", "is_shadow", "started_at"),
    )


class VendorCall(Base):
    """One vendor attempt inside an execution."""

    __tablename__ = "vendor_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("search_executions.id", ondelete="CASCADE"), index=True
    )
    vendor: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    # Set on a shadow's call that reused the response of this primary execution:
    # the vendor was not called again, so cost is 0 and cost_saved is its price.
    reused_from: Mapped[str | None] = mapped_column(String(36))
    cost_saved: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_vendor_calls_vendor_time", "vendor", "started_at"),)


class ContactOutcome(Base):
    """Later feedback on a returned email or phone, joined to its execution."""

    __tablename__ = "contact_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("search_executions.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    observed_at: Mapped[datetime]
    ingested_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint(
            "execution_id", "channel", name="uq_outcome_execution_channel"
        ),
        CheckConstraint("channel IN ('email', 'phone')", name="ck_outcome_channel"),
        CheckConstraint(
            "status IN ('delivered', 'bounced', 'valid', 'invalid')",
            name="ck_outcome_status",
        ),
    )


class RolloutStage(Base):
    """One run of a rollout step: its window, metrics, gate results and decision."""

    __tablename__ = "rollout_stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_name: Mapped[str] = mapped_column(String(64), index=True)
    percentage: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    gate_results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    gate_verdict: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16))
    approver: Mapped[str | None] = mapped_column(String(128))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    evaluated_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    # Where the step's Slack approval message lives, so that every later
    # update (decision, timeout, rollback) edits that one message.
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))


class AlertEvent(Base):
    """An alert that fired, or was suppressed by a maintenance window.

    One row covers one episode of a fingerprint (rule and subject): status
    "firing" from its first message until it clears ("resolved"), or
    "suppressed" for the checks that fired inside one maintenance window.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    fired_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(160), default="")
    status: Mapped[str] = mapped_column(String(16), default="firing")
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_seen_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    maintenance_window_id: Mapped[int | None] = mapped_column(
        ForeignKey("maintenance_windows.id", ondelete="SET NULL")
    )
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_alerts_fingerprint_status", "fingerprint", "status"),
        CheckConstraint(
            "status IN ('firing', 'resolved', 'suppressed')", name="ck_alerts_status"
        ),
    )


class MaintenanceWindow(Base):
    """A period during which alerts are suppressed."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))


class BreakerTransition(Base):
    """A circuit-breaker state change of one vendor."""

    __tablename__ = "breaker_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor: Mapped[str] = mapped_column(String(64), index=True)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    error_rate: Mapped[float | None] = mapped_column(Float)
    changed_at: Mapped[datetime]
