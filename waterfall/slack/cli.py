"""`waterfall slack ...`: serve the endpoint Slack calls."""

from __future__ import annotations

import click
import uvicorn

from waterfall.logging import configure_logging
from waterfall.runtime import Runtime
from waterfall.settings import Settings


@click.group()
def slack() -> None:
    """Slack approvals and rollback."""


@slack.command("serve")
@click.option("--host", default=None, help="Interface to bind (default: settings).")
@click.option("--port", type=int, default=None, help="Port (default: settings).")
def slack_serve(host: str | None, port: int | None) -> None:
    """Serve /slack/interactions and /slack/commands until interrupted."""
    from tasks.control import release_waiting_runs, resume_step
    from waterfall.slack.endpoint import build_endpoint

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = Runtime.from_settings(settings)
    endpoint = build_endpoint(runtime, resume_step, release_waiting_runs)
    uvicorn.run(
        endpoint.app(),
        host=host or settings.slack_host,
        port=port or settings.slack_port,
        log_level="info",
        lifespan="off",
        access_log=False,
    )
