"""Reads and writes of the store, in SQLAlchemy 2 style."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from waterfall.catalog import VendorSpec, WaterfallSpec
from waterfall.errors import NotFoundError
from waterfall.store.models import (
    BreakerTransition,
    RolloutHistory,
    RolloutStage,
    RolloutState,
    ShadowHistory,
    ShadowState,
    Vendor,
    WaterfallConfigEntry,
)
from waterfall.validation import validate


def upsert_vendors(session: Session, specs: Sequence[VendorSpec]) -> None:
    """Insert new vendors and update known ones from the catalog."""
    existing = {vendor.name: vendor for vendor in session.scalars(select(Vendor))}
    for spec in specs:
        vendor = existing.get(spec.name) or Vendor(name=spec.name)
        vendor.base_url = spec.base_url
        vendor.wire = spec.wire
        vendor.cost_per_call = spec.cost_per_call
        vendor.timeout_s = spec.timeout_s
        vendor.is_active = spec.is_active
        session.add(vendor)
    session.flush()


def vendor_activity(session: Session) -> dict[str, bool]:
    """Map every vendor name to whether it is active."""
    return {vendor.name: vendor.is_active for vendor in session.scalars(select(Vendor))}


def config_names(session: Session) -> set[str]:
    """Return the names of every stored waterfall config."""
    return set(session.scalars(select(WaterfallConfigEntry.config_name).distinct()))


def save_waterfall(session: Session, spec: WaterfallSpec, creating: bool) -> None:
    """Validate a waterfall config, then create it or replace its positions."""
    validate(spec, vendor_activity(session), config_names(session), creating)
    ids = {vendor.name: vendor.id for vendor in session.scalars(select(Vendor))}
    session.execute(
        delete(WaterfallConfigEntry).where(
            WaterfallConfigEntry.config_name == spec.name
        )
    )
    session.flush()
    for entry in spec.entries:
        session.add(
            WaterfallConfigEntry(
                config_name=spec.name,
                vendor_id=ids[entry.vendor],
                position=entry.position,
            )
        )
    session.flush()


def load_waterfall(session: Session, name: str) -> list[Vendor]:
    """Return the active vendors of a config in position order."""
    rows = session.execute(
        select(Vendor)
        .join(WaterfallConfigEntry, WaterfallConfigEntry.vendor_id == Vendor.id)
        .where(WaterfallConfigEntry.config_name == name, WaterfallConfigEntry.is_active)
        .order_by(WaterfallConfigEntry.position)
    ).scalars()
    vendors = list(rows)
    if not vendors:
        known = ", ".join(sorted(config_names(session))) or "none"
        raise NotFoundError("waterfall config", name, f"known configs: {known}")
    return vendors


def get_percentage(session: Session, rollout_name: str) -> float:
    """Return the current rollout percentage; 0 when it was never set."""
    state = session.get(RolloutState, rollout_name)
    return 0.0 if state is None else state.percentage


def get_state(session: Session, rollout_name: str) -> RolloutState | None:
    """Return the rollout state row, if any."""
    return session.get(RolloutState, rollout_name)


def set_percentage(
    session: Session,
    rollout_name: str,
    percentage: float,
    changed_by: str,
    reason: str,
    now: datetime,
) -> float | None:
    """Set the rollout percentage and append the change to history.

    Returns the previous percentage, or None for the first setting.
    """
    state = session.get(RolloutState, rollout_name, with_for_update=True)
    old = None if state is None else state.percentage
    if state is None:
        state = RolloutState(rollout_name=rollout_name)
        session.add(state)
    state.percentage = percentage
    state.updated_by = changed_by
    state.reason = reason
    state.updated_at = now
    session.add(
        RolloutHistory(
            rollout_name=rollout_name,
            old_percentage=old,
            new_percentage=percentage,
            changed_by=changed_by,
            reason=reason,
            changed_at=now,
        )
    )
    session.flush()
    return old


def rollout_history(
    session: Session, rollout_name: str, limit: int = 20
) -> list[RolloutHistory]:
    """Return the newest changes first."""
    return list(
        session.scalars(
            select(RolloutHistory)
            .where(RolloutHistory.rollout_name == rollout_name)
            .order_by(RolloutHistory.id.desc())
            .limit(limit)
        )
    )


def latest_stage(
    session: Session,
    rollout_name: str,
    percentage: float,
    since: datetime | None = None,
) -> RolloutStage | None:
    """Return the newest stage of a step, optionally one started at or after since."""
    query = select(RolloutStage).where(
        RolloutStage.rollout_name == rollout_name, RolloutStage.percentage == percentage
    )
    if since is not None:
        query = query.where(RolloutStage.started_at >= since)
    return session.scalars(query.order_by(RolloutStage.id.desc()).limit(1)).first()


def stage_of_flow_run(session: Session, flow_run_id: str) -> RolloutStage | None:
    """Return the newest stage that this Prefect flow run opened or waits on."""
    return session.scalars(
        select(RolloutStage)
        .where(RolloutStage.flow_run_id == flow_run_id)
        .order_by(RolloutStage.id.desc())
        .limit(1)
    ).first()


def last_rollback_at(session: Session, rollout_name: str) -> datetime | None:
    """Return when the rollout last went from above 0 % back to 0 %, or None."""
    return session.scalars(
        select(RolloutHistory.changed_at)
        .where(
            RolloutHistory.rollout_name == rollout_name,
            RolloutHistory.new_percentage == 0,
            RolloutHistory.old_percentage > 0,
        )
        .order_by(RolloutHistory.id.desc())
        .limit(1)
    ).first()


def stages(session: Session, rollout_name: str) -> list[RolloutStage]:
    """Return every stage of a rollout in the order they started."""
    return list(
        session.scalars(
            select(RolloutStage)
            .where(RolloutStage.rollout_name == rollout_name)
            .order_by(RolloutStage.id)
        )
    )


def add_breaker_transition(
    session: Session,
    vendor: str,
    from_state: str,
    to_state: str,
    reason: str,
    error_rate: float | None,
    changed_at: datetime,
) -> BreakerTransition:
    """Append one circuit-breaker transition."""
    row = BreakerTransition(
        vendor=vendor,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        error_rate=error_rate,
        changed_at=changed_at,
    )
    session.add(row)
    session.flush()
    return row


def breaker_transitions(
    session: Session, vendor: str | None = None, limit: int = 50
) -> list[BreakerTransition]:
    """Return stored breaker transitions, newest first, of one vendor or all."""
    query = select(BreakerTransition)
    if vendor is not None:
        query = query.where(BreakerTransition.vendor == vendor)
    order = (BreakerTransition.changed_at.desc(), BreakerTransition.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def vendor_names(session: Session) -> list[str]:
    """Return every stored vendor name, sorted."""
    return list(session.scalars(select(Vendor.name).order_by(Vendor.name)))


def get_shadow_state(session: Session, rollout_name: str) -> ShadowState | None:
    """Return the shadow switch row, if any."""
    return session.get(ShadowState, rollout_name)


def set_shadow_state(
    session: Session,
    rollout_name: str,
    enabled: bool,
    share: float,
    aa_share: float,
    changed_by: str,
    reason: str,
    now: datetime,
) -> tuple[bool, float, float] | None:
    """Set the shadow switch and append the change to history.

    Returns the previous (enabled, share, aa_share), or None for the first setting.
    """
    state = session.get(ShadowState, rollout_name, with_for_update=True)
    old = None if state is None else (state.enabled, state.share, state.aa_share)
    if state is None:
        state = ShadowState(rollout_name=rollout_name)
        session.add(state)
    state.enabled = enabled
    state.share = share
    state.aa_share = aa_share
    state.updated_by = changed_by
    state.reason = reason
    state.updated_at = now
    session.add(
        ShadowHistory(
            rollout_name=rollout_name,
            enabled=enabled,
            share=share,
            aa_share=aa_share,
            changed_by=changed_by,
            reason=reason,
            changed_at=now,
        )
    )
    session.flush()
    return old


def shadow_history(
    session: Session, rollout_name: str, limit: int = 10
) -> list[ShadowHistory]:
    """Return the newest shadow switch changes first."""
    return list(
        session.scalars(
            select(ShadowHistory)
            .where(ShadowHistory.rollout_name == rollout_name)
            .order_by(ShadowHistory.id.desc())
            .limit(limit)
        )
    )
