"""Typed settings, read once from WATERFALL_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    log_level: str = Field(
        default="INFO",
        description="Minimum level of log events: DEBUG, INFO, WARNING, ERROR or "
        "CRITICAL",
    )
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
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="Bot token (xoxb-...) that posts rollout messages; unset means "
        "no Slack messages, and approvals go through the Prefect UI only",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret that authenticates Slack's interaction requests",
    )
    slack_bot_token_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block holding the bot token; used "
        "when slack_bot_token is unset",
    )
    slack_signing_secret_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block holding the signing secret; "
        "used when slack_signing_secret is unset",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Base URL of the Slack Web API (tests point it at a local mock)",
    )
    slack_channel: str = Field(
        default="#waterfall-rollout",
        description="Channel that receives approval requests and rollout news",
    )
    slack_approvers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack user ids allowed to approve or reject a step and to roll "
        "back from Slack, comma-separated in the environment",
    )
    slack_host: str = Field(
        default="127.0.0.1", description="Interface the Slack endpoint listens on"
    )
    slack_port: int = Field(default=3100, description="Port of the Slack endpoint")
    runbook_url: str = Field(
        default="docs/runbook.md",
        description="Base URL of the runbook that alert messages link to, without "
        "the #anchor; the default is the repository-relative path",
    )

    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL for breaker state shared by every process, e.g. "
        "redis://127.0.0.1:6379/0; unset keeps breaker state in-process",
    )
    breaker_enabled: bool = Field(
        default=True, description="Skip vendors whose circuit breaker is not closed"
    )
    breaker_error_rate_threshold: float = Field(
        default=0.05,
        description="Share of failed calls in the window (0-1) that opens a breaker",
    )
    breaker_window_s: float = Field(
        default=300.0, description="Seconds of the sliding error-rate window"
    )
    breaker_bucket_s: float = Field(
        default=10.0, description="Seconds per window bucket; the window slides by it"
    )
    breaker_min_calls: int = Field(
        default=100,
        description="Calls in the window before the error rate can open a breaker",
    )
    breaker_cooldown_s: float = Field(
        default=900.0, description="Seconds a breaker stays OPEN before probes"
    )
    breaker_probe_calls: int = Field(
        default=3,
        description="Probe calls let through in HALF_OPEN; all must succeed to close",
    )
    breaker_probe_timeout_s: float = Field(
        default=60.0,
        description="Seconds after which an unreported probe's slot is freed",
    )
    breaker_rate_limit_default_s: float = Field(
        default=60.0,
        description="Seconds a vendor is skipped after a 429 without Retry-After",
    )
    breaker_rate_limit_max_s: float = Field(
        default=3600.0, description="Maximum seconds one 429 can skip a vendor for"
    )
    breaker_redis_prefix: str = Field(
        default="waterfall:breaker", description="Prefix of the breaker's Redis keys"
    )
    breaker_redis_timeout_s: float = Field(
        default=0.25,
        description="Seconds before a breaker Redis connect or command times out",
    )
    breaker_store_retry_s: float = Field(
        default=5.0,
        description="Seconds on the in-process fallback before Redis is tried again",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("slack_approvers", mode="before")
    @classmethod
    def _split_approvers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
