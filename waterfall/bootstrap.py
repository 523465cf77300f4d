"""Create the schema and load config/ into the store; safe to run repeatedly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from waterfall.catalog import load_vendor_catalog, load_waterfalls
from waterfall.logging import get_logger
from waterfall.plan import RolloutPlan, load_plan
from waterfall.store import Store
from waterfall.store import repository as repo

log = get_logger("bootstrap")


@dataclass(frozen=True)
class InitSummary:
    """Counts and names of what `init` loaded."""

    vendors: int
    configs: list[str]
    rollout_name: str
    percentage: float


def init_store(store: Store, config_dir: Path, now: datetime) -> InitSummary:
    """Migrate the schema, load vendors and waterfalls, and start the rollout at 0 %."""
    store.migrate()
    catalog = load_vendor_catalog(config_dir / "vendors.yaml")
    waterfalls = load_waterfalls(config_dir / "waterfalls.yaml")
    plan = load_plan(config_dir / "rollout_plan.yaml")
    with store.session() as session:
        repo.upsert_vendors(session, catalog)
        existing = repo.config_names(session)
        for spec in waterfalls:
            repo.save_waterfall(session, spec, creating=spec.name not in existing)
        if repo.get_state(session, plan.rollout_name) is None:
            repo.set_percentage(
                session,
                plan.rollout_name,
                0.0,
                "waterfall init",
                "initial state: everyone on the control config",
                now,
            )
        percentage = repo.get_percentage(session, plan.rollout_name)
    summary = InitSummary(
        len(catalog), [w.name for w in waterfalls], plan.rollout_name, percentage
    )
    log.info(
        "store.initialised",
        vendors=summary.vendors,
        configs=summary.configs,
        rollout=plan.rollout_name,
        percentage=percentage,
    )
    return summary


def plan_from(config_dir: Path) -> RolloutPlan:
    """Load the rollout plan from a config folder."""
    return load_plan(config_dir / "rollout_plan.yaml")
