"""`waterfall slack ...`: serve the endpoint Slack calls."""

from __future__ import annotations

import click
import uvicorn

from waterfall.runtime import command_runtime


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

    runtime = command_runtime()
    settings = runtime.settings
    endpoint = build_endpoint(runtime, resume_step, release_waiting_runs)
    uvicorn.run(
        endpoint.app(),
        host=host or settings.slack_host,
        port=port or settings.slack_port,
        log_level="info",
        lifespan="off",
        access_log=False,
    )
