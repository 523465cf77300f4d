"""The `waterfall alerts` and `waterfall maintenance` commands."""

from __future__ import annotations

import getpass

import click
from tabulate import tabulate

from waterfall.alerts.drill import fire_test_alerts
from waterfall.alerts.maintenance import add_window, list_windows, parse_moment
from waterfall.alerts.runner import SCHEDULED_RULES, alert_config, run_check
from waterfall.runtime import command_runtime
from waterfall.store import alert_repository as alert_repo


@click.group()
def alerts() -> None:
    """Alert checks and their Slack messages."""


@alerts.command("test")
def alerts_test() -> None:
    """Post every alert once, marked as a test, against artificial thresholds."""
    runtime = command_runtime()
    results = fire_test_alerts(runtime, alert_config(runtime))
    for result in results:
        source = "store data" if result.from_store else "example values"
        state = "posted" if result.posted else "NOT posted"
        click.echo(f"{result.rule}: {state} ({source})")
    if not all(result.posted for result in results):
        raise click.ClickException(
            "some test alerts were not posted: check WATERFALL_SLACK_BOT_TOKEN, "
            "the channels in config/alerts.yaml and the slack.call_failed log events"
        )


@alerts.command("check")
@click.argument("rule", type=click.Choice(SCHEDULED_RULES))
def alerts_check(rule: str) -> None:
    """Run one rule's check now, as its scheduled flow does, and print the result."""
    runtime = command_runtime()
    for outcome in run_check(runtime, rule):
        click.echo(
            f"{outcome.fingerprint}: {outcome.action} (value {outcome.value:.4g})"
        )


@alerts.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Maximum number of alerts to show, newest first.",
)
def alerts_list(limit: int) -> None:
    """Show the newest stored alerts, suppressed ones included."""
    runtime = command_runtime()
    with runtime.store.session() as session:
        rows = [
            [
                row.fingerprint,
                row.severity,
                row.status,
                f"{row.fired_at:%Y-%m-%d %H:%M}",
                "-" if row.resolved_at is None else f"{row.resolved_at:%Y-%m-%d %H:%M}",
                row.occurrences,
                row.maintenance_window_id or "-",
            ]
            for row in alert_repo.alert_events(session, limit)
        ]
    headers = ["alert", "severity", "status", "fired", "resolved", "checks", "window"]
    click.echo(tabulate(rows, headers=headers))


@click.group()
def maintenance() -> None:
    """Maintenance windows, which suppress alerts."""


@maintenance.command("add")
@click.argument("start")
@click.argument("end")
@click.option("--reason", required=True, help="What the maintenance is; stored.")
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who sets the window; stored.",
)
def maintenance_add(start: str, end: str, reason: str, actor: str) -> None:
    """Suppress alerts from START to END (ISO 8601; no offset means UTC)."""
    starts_at = parse_moment(start, "START")
    ends_at = parse_moment(end, "END")
    runtime = command_runtime()
    window = add_window(
        runtime.store, starts_at, ends_at, reason, actor, runtime.clock.now()
    )
    click.echo(
        f"maintenance window {window.id}: {window.starts_at:%Y-%m-%d %H:%M} to "
        f"{window.ends_at:%Y-%m-%d %H:%M} UTC, {window.reason}"
    )


@maintenance.command("list")
@click.option("--all", "include_past", is_flag=True, help="Include past windows.")
def maintenance_list(include_past: bool) -> None:
    """Show current and future maintenance windows."""
    runtime = command_runtime()
    windows = list_windows(runtime.store, runtime.clock.now(), include_past)
    rows = [
        [
            w.id,
            f"{w.starts_at:%Y-%m-%d %H:%M}",
            f"{w.ends_at:%Y-%m-%d %H:%M}",
            w.created_by,
            w.reason,
        ]
        for w in windows
    ]
    click.echo(
        tabulate(rows, headers=["id", "start (UTC)", "end (UTC)", "by", "reason"])
    )
