"""Typed settings, read once from WATERFALL_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every tunable of the core, with its unit in the description."""

    model_config = SettingsConfigDict(env_prefix="WATERFALL_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / '.waterfall' / 'waterfall.db'}",
        description="SQLAlchemy URL of the store, e.g. postgresql+psycopg://host/db",
    )
    config_dir: Path = Field(
        default=PROJECT_ROOT / "config",
        description="Folder with the vendor catalog, waterfalls and rollout plan",
    )
    expectations_dir: Path = Field(
        default=PROJECT_ROOT / "expectations",
        description="Folder with the Great Expectations suites as JSON",
    )
    rollout_name: str = Field(
        default="optimized-waterfall",
        description="Name of the active rollout; also the routing salt",
    )
    vendor_base_url: str | None = Field(
        default=None,
        description="Base URL of the vendor APIs; overrides each vendor's base_url, "
        "used to point every adapter at the simulator",
    )
    candidate_ref_key: SecretStr = Field(
        default=SecretStr("development-only-key"),
        description="Secret key of the candidate reference hash; set a random "
        "value in production so that references cannot be reversed",
    )
    vendor_timeout_s: float | None = Field(
        default=None,
        description="Seconds before a vendor call times out; overrides the catalog's "
        "timeout_s for every vendor when set",
    )
    simulator_seed: int = Field(default=7, description="Seed of the vendor simulator")
    simulator_latency_scale: float = Field(
        default=1.0,
        description="Factor applied to the simulator's vendor latencies (1.0 = as "
        "profiled; the demo uses a small factor to run days of traffic quickly)",
    )
    spill_path: Path = Field(
        default=PROJECT_ROOT / ".waterfall" / "spill" / "executions.jsonl",
        description="JSON-lines file that keeps execution records the store rejected",
    )
    log_level: str = Field(default="INFO", description="Minimum level of log events")
    log_json: bool = Field(default=True, description="Render log events as JSON")
    recorder_batch_size: int = Field(
        default=200, description="Executions written to the store per transaction"
    )
    approval_timeout_s: int = Field(
        default=24 * 3600,
        description="Seconds a rollout step waits for approval before holding",
    )
    approval_poll_interval_s: int = Field(
        default=2, description="Seconds between checks of a paused step for input"
    )
    shadow_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a shadow run may take before it is abandoned, logged "
        "and counted; the primary search never waits for it",
    )
    shadow_share: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of searches (0-1) that `waterfall shadow on` shadows "
        "when no --share is given",
    )
    shadow_report_dir: Path = Field(
        default=PROJECT_ROOT / ".waterfall" / "reports",
        description="Folder where the shadow analysis writes its HTML reports",
    )
    prefect_ui_url: str = Field(
        default="http://127.0.0.1:4200",
        description="Base URL of the Prefect UI, used for links to flow runs",
    )
