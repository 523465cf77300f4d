"""`waterfall shadow ...`: switch shadow traffic on and off and show its spend."""

from __future__ import annotations

import getpass
from datetime import timedelta

import click

from waterfall.cli import spend_line
from waterfall.runtime import command_runtime


@click.group()
def shadow() -> None:
    """Shadow traffic: the other config run beside each search, logged only."""


@shadow.command("on")
@click.option(
    "--share",
    type=click.FloatRange(0, 1),
    default=None,
    help="Share of searches (0-1) that get a shadow run "
    "[default: WATERFALL_SHADOW_SHARE, else 1.0].",
)
@click.option(
    "--aa-share",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share (0-1) of shadow runs that repeat the primary's own config (A/A), "
    "to measure vendor noise; these make their own vendor calls.",
)
@click.option("--reason", required=True, help="Why shadowing starts; kept in history.")
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who makes the change.",
)
def shadow_on(share: float | None, aa_share: float, reason: str, actor: str) -> None:
    """Start shadow runs; the next search reads the switch."""
    from waterfall.shadow import ShadowSwitch, set_shadow

    runtime = command_runtime()
    share = runtime.settings.shadow_share if share is None else share
    switch = ShadowSwitch(True, share, aa_share)
    set_shadow(
        runtime.store,
        runtime.plan.rollout_name,
        switch,
        actor,
        reason,
        runtime.clock.now(),
    )
    click.echo(
        f"shadow traffic on for rollout '{runtime.plan.rollout_name}': "
        f"{share:.0%} of searches, {aa_share:.0%} of those as A/A"
    )


@shadow.command("off")
@click.option("--reason", required=True, help="Why shadowing stops; kept in history.")
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who makes the change.",
)
def shadow_off(reason: str, actor: str) -> None:
    """Stop shadow runs; the next search reads the switch."""
    from waterfall.shadow import ShadowSwitch, get_shadow, set_shadow

    runtime = command_runtime()
    name = runtime.plan.rollout_name
    current = get_shadow(runtime.store, name)
    switch = ShadowSwitch(False, current.share, current.aa_share)
    set_shadow(runtime.store, name, switch, actor, reason, runtime.clock.now())
    click.echo(f"shadow traffic off for rollout '{name}'")


@shadow.command("status")
@click.option(
    "--days",
    type=click.FloatRange(0, 3650, min_open=True),
    default=7.0,
    show_default=True,
    help="Length of the spend window, ending now, in days.",
)
def shadow_status(days: float) -> None:
    """Show the switch, its latest changes and shadow spend over DAYS days."""
    from waterfall.metrics import spend_summary
    from waterfall.shadow import get_shadow
    from waterfall.store import repository as repo

    runtime = command_runtime()
    name = runtime.plan.rollout_name
    switch = get_shadow(runtime.store, name)
    state = "on" if switch.enabled else "off"
    click.echo(
        f"shadow traffic {state} for rollout '{name}': share {switch.share:.0%}, "
        f"A/A share {switch.aa_share:.0%}"
    )
    with runtime.store.session() as session:
        for change in repo.shadow_history(session, name):
            click.echo(
                f"  {change.changed_at:%Y-%m-%d %H:%M} "
                f"{'on' if change.enabled else 'off'} share {change.share:.0%} "
                f"A/A {change.aa_share:.0%} by {change.changed_by}: {change.reason}"
            )
    end = runtime.clock.now()
    spend = spend_summary(runtime.store, end - timedelta(days=days), end)
    click.echo(spend_line(spend))
